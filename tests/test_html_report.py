"""``tb-diag report --html``: one file, drawn by the tab's own frontend code from recorded route
answers, opened from file:// in headless Chromium with the network cut off."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from tb_diag.cli import main
from test_browser import ARTIFACTS, REPO

SCRIPT = os.path.join(REPO, "frontend", "e2e", "report_file.mjs")
pytestmark = [pytest.mark.browser, pytest.mark.subprocess, pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (make browser)")]


def open_report(path: str, run: str, rows: int, screenshot: str) -> dict:
    completed = subprocess.run(["node", SCRIPT, path, run, str(rows), screenshot], cwd=os.path.join(REPO, "frontend"),
                               capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_report_file_shows_the_runs_findings_and_charts_without_any_server_or_network(demo_logdir, tmp_path, capsys):
    path = str(tmp_path / "report.html")
    assert main(["report", str(demo_logdir), "--html", path]) == 0
    assert "6 run(s)" in capsys.readouterr().out
    text = open(path, encoding="utf-8").read()
    # Self-contained: no script, style or image is loaded from elsewhere.
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=""", text)
    os.makedirs(ARTIFACTS, exist_ok=True)
    result = open_report(path, "exploding/train", 4, os.path.join(ARTIFACTS, "html_report.png"))
    assert result["requests"] == [] and result["dialogs"] == [] and result["consoleErrors"] == []
    assert result["rows"] == 4 and result["inputCharts"] >= 1
    # The Overview's findings, root cause first, with the same words as in the tab.
    assert result["findings"][0] == "learning_rate_too_high"
    assert "Lower the learning rate" in result["bodyText"]
    assert "Report of demo_logs0" in result["source"]


def test_hostile_names_in_the_report_file_stay_text_and_nothing_executes(tmp_path):
    import hostile_logdir

    logdir = tmp_path / "logs"
    hostile_logdir.write_valid_run(str(logdir / hostile_logdir.HOSTILE_RUN / "train"),
                                   [hostile_logdir.HOSTILE_LAYER, hostile_logdir.SCRIPT_LAYER, "normal"],
                                   pipeline={"stages": [hostile_logdir.SCRIPT_LAYER, "batch"], "source": "in_memory"})
    path = str(tmp_path / "hostile.html")
    assert main(["report", str(logdir), "--html", path]) == 0
    text = open(path, encoding="utf-8").read()
    assert "<script>alert" not in text and "<img src=x" not in text  # only escaped, inside the JSON
    result = open_report(path, f"{hostile_logdir.HOSTILE_RUN}/train", 3, str(tmp_path / "hostile.png"))
    assert result["dialogs"] == [] and result["injectedImages"] == 0 and result["requests"] == []
    for name in (hostile_logdir.HOSTILE_RUN, hostile_logdir.HOSTILE_LAYER, hostile_logdir.SCRIPT_LAYER):
        assert name in result["bodyText"]


def test_without_the_built_report_script_the_cli_says_what_to_run(demo_logdir, tmp_path, capsys, monkeypatch):
    from tb_diag.plugin import html_report

    monkeypatch.setattr(html_report, "REPORT_SCRIPT", str(tmp_path / "missing.js"))
    assert main(["report", str(demo_logdir), "--html", str(tmp_path / "r.html")]) == 2
    assert "make frontend" in capsys.readouterr().err
