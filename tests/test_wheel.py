"""A teammate's path: the wheel built from a clean checkout carries the tab, installs without
TensorFlow, and its TensorBoard renders a real training run's findings in headless Chromium."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from tensorboard_server import running_tensorboard
from test_browser import REPO, open_tab

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("git") is None, reason="needs chromium and git")


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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    source = clean_checkout(str(tmp_path_factory.mktemp("checkout")))
    out = str(tmp_path_factory.mktemp("wheel"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", source, "--no-deps", "-w", out, "-q"], check=True, timeout=600)
    (built,) = glob.glob(os.path.join(out, "tb_diag-*.whl"))
    return built


def test_the_wheel_and_the_sdist_built_from_a_clean_checkout_carry_the_tab(wheel, tmp_path):
    assert "tb_diag/plugin/static/index.js" in zipfile.ZipFile(wheel).namelist()
    source = clean_checkout(str(tmp_path / "checkout"))
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(tmp_path), source], check=True, timeout=600,
                   capture_output=True)
    (sdist,) = glob.glob(str(tmp_path / "tb[-_]diag-*.tar.gz"))  # setuptools versions differ on the dash
    names = tarfile.open(sdist).getnames()
    assert any(name.endswith("tb_diag/plugin/static/index.js") for name in names)
    assert any(name.endswith("frontend/src/index.ts") for name in names)


def test_the_wheel_installed_without_tensorflow_serves_the_tab_with_a_real_runs_findings(wheel, tmp_path, demo_logdir):
    venv = str(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    python = os.path.join(venv, "bin", "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel], check=True, timeout=600)
    # A viewer's machine: TensorBoard and tb_diag, no TensorFlow.
    assert subprocess.run([python, "-c", "import tensorflow"], capture_output=True).returncode != 0
    listed = subprocess.run([python, "-m", "pip", "show", "-f", "tb-diag"], capture_output=True, text=True, check=True).stdout
    assert "static/index.js" in listed
    with running_tensorboard(str(demo_logdir), ready_run="vanishing/train", python=python) as base:
        result = open_tab(base, "exploding/train", 4, str(tmp_path / "tab.png"), "starved/train", str(tmp_path / "input.png"),
                          "unscaled/train", str(tmp_path / "activations.png"))
    assert result["rows"] == 4 and result["runToggles"] == 6
    assert result["findings"][0]["id"] == "learning_rate_too_high"
    assert result["dialogs"] == []
