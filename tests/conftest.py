"""Shared fixtures: quiet TensorFlow, small deterministic data, and models of every style."""

from __future__ import annotations

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# On a GPU host the test processes (pytest-xdist workers, the programs tests start) share the GPU:
# each takes memory as it needs it instead of all of it up front.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

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


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> str:
    """The wheel ``pip wheel`` builds from a clean checkout of this repository (frontend included)."""
    from viewer_install import build_wheel, clean_checkout

    checkout = clean_checkout(str(tmp_path_factory.mktemp("checkout")))
    return build_wheel(checkout, str(tmp_path_factory.mktemp("wheel")))


@pytest.fixture(scope="session")
def viewer_python(built_wheel, tmp_path_factory) -> str:
    """The Python of a new virtualenv holding that wheel (with its ``s3`` extra) and no TensorFlow:
    a teammate's machine that only views runs."""
    from viewer_install import viewer_virtualenv

    return viewer_virtualenv(built_wheel, str(tmp_path_factory.mktemp("viewer") / "venv"))



# Parametrization ids of the compile-option matrix whose variants are the slow tier: XLA compiles
# each model, and steps_per_execution > 1 retraces its loop; the plain graph and eager variants of
# the same test stay in the fast tier.
SLOW_VARIANTS = re.compile(r"(^|-)(xla|spe3)($|-)")


SESSION_FIXTURES = {"demo_logdir", "built_wheel", "viewer_python"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Tier markers that follow from a test's fixtures and parameters: the session-wide demo
    training (six models, about a minute), the wheel built and installed into a fresh virtualenv,
    and the XLA / steps_per_execution variants of the model-style matrix are slow.

    The tests that share those session fixtures form one pytest-xdist group, so that under
    ``-n 2 --dist loadgroup`` (``make test``) one worker builds each fixture once."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and SLOW_VARIANTS.search(callspec.id):
            item.add_marker(pytest.mark.slow)
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SESSION_FIXTURES:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("session_fixtures"))
        if fixtures & {"built_wheel", "viewer_python"}:
            item.add_marker(pytest.mark.subprocess)
