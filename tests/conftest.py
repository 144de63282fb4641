"""Shared fixtures: quiet TensorFlow, small deterministic data, and models of every style."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest


@pytest.fixture
def regression_data():
    """256 examples of 8 features and 1 target, fixed seed."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(256, 1))).astype("float32")
    return x, y


@pytest.fixture(scope="session")
def gpu_present() -> bool:
    """Whether TensorFlow sees a GPU here: GPU-dependent assertions branch on it (none here, one on a lent machine)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@pytest.fixture(scope="session")
def demo_logdir(tmp_path_factory):
    """The demo's three runs (healthy, exploding, vanishing), trained for real once per session."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "demo"))
    import train_demo

    logdir = tmp_path_factory.mktemp("demo_logs")
    for name in train_demo.DEMOS:
        train_demo.train(name, str(logdir), epochs=2)
    return logdir
