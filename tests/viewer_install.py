"""A teammate's install of the viewer: a wheel built from a clean checkout, put into a new
virtualenv without TensorFlow (``tests/test_wheel.py``, ``tests/test_s3_logdir.py``)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def clean_checkout(destination: str) -> str:
    """The repository's files as a fresh clone has them (tracked and not ignored: no built bundle,
    no node_modules), copied to ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for relative in filter(None, listed):
        source = os.path.join(REPO, relative)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(destination, relative)), exist_ok=True)
            shutil.copy2(source, os.path.join(destination, relative))
    assert not os.path.exists(os.path.join(destination, "tb_diag", "plugin", "static"))
    return destination


def build_wheel(checkout: str, out: str) -> str:
    """``pip wheel`` of ``checkout`` into ``out`` (the build runs the frontend build); the wheel's path."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", checkout, "--no-deps", "-w", out, "-q"], check=True, timeout=600)
    (built,) = glob.glob(os.path.join(out, "tb_diag-*.whl"))
    return built


def viewer_virtualenv(wheel: str, venv: str) -> str:
    """A new virtualenv with ``wheel`` and its ``s3`` extra installed from the registry, and no
    TensorFlow; returns its Python."""
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    python = os.path.join(venv, "bin", "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel + "[s3]"], check=True, timeout=900)
    assert subprocess.run([python, "-c", "import tensorflow"], capture_output=True).returncode != 0
    return python
