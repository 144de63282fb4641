"""``tb-diag report LOGDIR --html FILE``: one self-contained HTML file a teammate opens without
TensorBoard (a CI artifact, a ticket attachment).

The file is the tab itself: the same frontend code (``frontend/src/report.ts``, bundled as
``static/report.js``, inlined) draws the Overview, the findings and the panels from the answers of
the plugin's own routes, recorded here through TensorBoard's WSGI app exactly as the tab would
fetch them. Nothing is fetched when the file is opened: no server, no network, no CDN (its Content
Security Policy forbids connections).

The recorded answers come from the log dir (untrusted): they are embedded as JSON in a
``<script type="application/json">`` element with ``<``, ``>`` and ``&`` escaped, so no string in
them can close the element; the frontend renders them as text, as in the tab.
"""

from __future__ import annotations

import datetime
import html
import json
import os
from typing import Any

from tb_diag.plugin.plugin import STATIC_DIR

REPORT_SCRIPT = os.path.join(STATIC_DIR, "report.js")
# The element the report script reads (frontend/src/report.ts: REPORT_DATA_ID).
DATA_ELEMENT_ID = "tb-diag-report-data"
# Scripts and styles only from the file itself; no connection, frame or plugin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
    "font-src data:; connect-src 'none'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)


class ReportBundleMissing(RuntimeError):
    """The report script was not built (``make frontend``)."""


def recorded_answers(logdir: str) -> dict:
    """Every answer the tab could ask for, from the plugin's routes over ``logdir``:
    ``{"answers": {route: {run: {"status", "body"}}}}`` (``""`` as the run of ``runs``)."""
    from tensorboard.backend import application
    from tensorboard.plugins import base_plugin
    from werkzeug.test import Client

    from tb_diag.plugin.loader import DiagnosticsLoader
    from tb_diag.plugin.run_data import open_logdir

    provider = open_logdir(logdir)
    context = base_plugin.TBContext(logdir=logdir, data_provider=provider)
    plugin = DiagnosticsLoader().load(context)
    client = Client(application.TensorBoardWSGI([plugin], data_provider=provider))

    def answer(route: str, run: str | None = None) -> dict:
        response = client.get(f"/data/plugin/tb_diag/{route}", query_string={"run": run} if run is not None else None)
        text = response.get_data(as_text=True)
        try:
            body = json.loads(text)
        except ValueError:  # every tb_diag route answers JSON; anything else is kept as its message
            body = {"error": text[:500]}
        return {"status": response.status_code, "body": body}

    runs_answer = answer("runs")
    answers: dict[str, dict[str, Any]] = {"runs": {"": runs_answer}}
    runs = [entry["run"] for entry in runs_answer["body"].get("runs", [])] if runs_answer["status"] == 200 else []
    # Every JSON route the plugin serves per run (what the tab may ask for), from the plugin itself.
    per_run_routes = [path.lstrip("/") for path in plugin.get_plugin_apps() if path not in ("/runs", "/static/*")]
    for route in per_run_routes:
        answers[route] = {run: answer(route, run) for run in runs}
    return {"answers": answers}


def report_html(logdir: str, written_at: str | None = None) -> str:
    """The report file's text for ``logdir``. Raises ``ReportBundleMissing`` without the bundle."""
    if not os.path.isfile(REPORT_SCRIPT):
        raise ReportBundleMissing(f"the report script {REPORT_SCRIPT} is not built; run `make frontend` (needs Node.js >= 20)")
    with open(REPORT_SCRIPT, encoding="utf-8") as bundle:
        script = bundle.read()
    if "</script" in script.lower():
        raise ReportBundleMissing("the report script contains '</script' and cannot be inlined")
    recorded = recorded_answers(logdir)
    recorded["logdir"] = os.path.basename(os.path.normpath(logdir)) or logdir
    recorded["written_at"] = written_at or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data = json.dumps(recorded, separators=(",", ":"), ensure_ascii=False)
    # Inside <script type="application/json"> only "</script" could end the element: with every
    # "<" escaped (and ">" and "&" for good measure) no string from the log dir can.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = html.escape(f"tb_diag report: {recorded['logdir']}")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{title}</title></head>\n<body>\n"
        f"<script type=\"application/json\" id=\"{DATA_ELEMENT_ID}\">{data}</script>\n"
        f"<script>{script}</script>\n</body></html>\n"
    )


def write_report_html(logdir: str, path: str) -> int:
    """Writes the report file of ``logdir`` to ``path``; returns its size in bytes."""
    text = report_html(logdir)
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    return len(text.encode("utf-8"))
