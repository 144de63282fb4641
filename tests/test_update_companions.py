"""Companions of an update are made once per graph, where the update runs, and read back outside a branch."""

from __future__ import annotations

import pytest
import tensorflow as tf

from tb_diag.core.update_companions import UpdateCompanions


def test_companions_are_made_once_per_graph_and_a_branch_hands_its_own_out():
    made: list[str] = []

    def square_of(x):
        def make():
            made.append(tf.compat.v1.get_default_graph().name)
            return x * x

        return make

    @tf.function
    def step(x, take_branch):
        companions = UpdateCompanions()
        index = companions.ask(square_of(x))
        outputs = tf.cond(take_branch, lambda: [tf.constant(0), *companions.here()], lambda: [tf.constant(1), *companions.here()])
        companions.resolve(outputs[1:])
        # Read twice outside the branch: the conditional's output, nothing made again.
        return companions.value(index) + companions.value(index)

    assert float(step(tf.constant(3.0), tf.constant(True))) == 18.0
    # One per branch graph, none in the outer function.
    assert len(made) == 2 and all(name.startswith("cond") for name in made)


def test_companions_nobody_made_are_made_where_they_are_read():
    companions = UpdateCompanions()
    index = companions.ask(lambda: tf.constant(2.0) * 4.0)
    assert float(companions.value(index)) == 8.0


def test_a_branch_output_of_the_wrong_length_is_refused():
    companions = UpdateCompanions()
    companions.ask(lambda: tf.constant(1.0))
    with pytest.raises(ValueError, match="expected 1 companion tensors, got 0"):
        companions.resolve([])
