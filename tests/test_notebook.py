"""Notebooks: the ``%tensorboard`` magic's way of starting TensorBoard shows the tab, also behind a
proxy prefix (every URL the tab uses is relative); ``tb_diag.show`` gives a log dir's findings in
one call, as the tab's report in Jupyter and as text elsewhere."""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import time

import pytest

import tb_diag
from tensorboard_server import free_port, get
from test_browser import ARTIFACTS, open_tab

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]


@pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("tensorboard") is None, reason="needs chromium and tensorboard")
def test_the_tensorboard_magic_shows_the_tab_behind_a_proxy_prefix(demo_logdir, capsys):
    from tensorboard import manager, notebook

    port = free_port()
    prefix = f"/proxy/{port}"  # what jupyter-server-proxy puts in front (TENSORBOARD_PROXY_URL)
    notebook.start(f"--logdir {demo_logdir} --host 127.0.0.1 --port {port} --path_prefix {prefix}")  # what %tensorboard runs
    assert "Launching TensorBoard" in capsys.readouterr().out
    (info,) = [info for info in manager.get_all() if info.port == port]
    try:
        base = f"http://127.0.0.1:{port}{prefix}"
        deadline = time.monotonic() + 90
        while True:
            status, body, _ = get(f"{base}/data/plugin/tb_diag/runs")
            if status == 200 and "vanishing/train" in [run["run"] for run in json.loads(body)["runs"]]:
                break
            assert time.monotonic() < deadline, "tensorboard did not serve the demo runs"
            time.sleep(0.5)
        os.makedirs(ARTIFACTS, exist_ok=True)
        result = open_tab(base, "exploding/train", 4, os.path.join(ARTIFACTS, "notebook_prefix.png"))
    finally:
        os.kill(info.pid, signal.SIGTERM)
    assert result["rows"] == 4 and result["findings"][0]["id"] == "learning_rate_too_high"
    assert result["dialogs"] == []


def test_show_is_the_text_report_when_printed_and_the_tabs_report_in_a_notebook(demo_logdir):
    report = tb_diag.show(str(demo_logdir))
    text = repr(report)
    assert "run exploding/train: 116 steps, 4 layers" in text and "ERROR learning_rate_too_high" in text
    rich = report._repr_html_()  # what Jupyter displays for a cell's value
    assert rich.startswith('<iframe sandbox="allow-scripts"') and 'srcdoc="' in rich
    document = html.unescape(rich.split('srcdoc="', 1)[1].rsplit('"></iframe>', 1)[0])
    assert document.startswith("<!doctype html>") and 'id="tb-diag-report-data"' in document
    assert "learning_rate_too_high" in document


def test_show_says_when_a_log_dir_has_no_data(tmp_path):
    report = tb_diag.show(str(tmp_path))
    assert "no tb_diag data" in repr(report) and report._repr_html_().startswith("<pre>")
