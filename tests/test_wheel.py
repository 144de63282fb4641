"""A teammate's path: the wheel built from a clean checkout carries the tab, installs without
TensorFlow, and its TensorBoard renders a real training run's findings in headless Chromium."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from tensorboard_server import running_tensorboard
from test_browser import open_tab
from viewer_install import clean_checkout

pytestmark = [pytest.mark.browser, pytest.mark.subprocess, pytest.mark.slow, pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("git") is None, reason="needs chromium and git")]


def test_the_wheel_and_the_sdist_built_from_a_clean_checkout_carry_the_tab(built_wheel, tmp_path):
    assert "tb_diag/plugin/static/index.js" in zipfile.ZipFile(built_wheel).namelist()
    source = clean_checkout(str(tmp_path / "checkout"))
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(tmp_path), source], check=True, timeout=600,
                   capture_output=True)
    (sdist,) = glob.glob(str(tmp_path / "tb[-_]diag-*.tar.gz"))  # setuptools versions differ on the dash
    names = tarfile.open(sdist).getnames()
    assert any(name.endswith("tb_diag/plugin/static/index.js") for name in names)
    assert any(name.endswith("frontend/src/index.ts") for name in names)


def test_the_wheel_installed_without_tensorflow_serves_the_tab_with_a_real_runs_findings(viewer_python, tmp_path, demo_logdir):
    python = viewer_python
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
