"""``tb_diag.show(logdir)``: a log dir's findings in one call, for a notebook user who will not
start TensorBoard (rich HTML in Jupyter, plain text elsewhere).

Inside Jupyter, ``%load_ext tensorboard`` then ``%tensorboard --logdir logs`` shows the full tab
(every URL the tab uses is relative, so it works behind a ``TENSORBOARD_PROXY_URL`` prefix too).
"""

from __future__ import annotations

import html
import io

# Height of the report's frame in a notebook cell, in pixels (it scrolls inside).
FRAME_HEIGHT_PX = 800


class LogdirReport:
    """The findings of one log dir. A notebook displays it as the tab's report (the same file as
    ``tb-diag report --html``, in a sandboxed frame); ``repr``/``print`` give the text report of
    ``tb-diag report``. Read when created.

    Example:

    ```python
    import tb_diag
    tb_diag.show("logs")   # the last expression of a cell: the Overview, findings and panels
    print(tb_diag.show("logs"))   # outside a notebook: the text report
    ```
    """

    def __init__(self, logdir: str):
        from tb_diag.cli import print_report
        from tb_diag.plugin.report import report_document
        from tb_diag.plugin.run_data import load_logdir

        self.logdir = logdir
        runs = load_logdir(logdir)
        if not runs:
            self.text = f"no tb_diag data under {logdir!r}; was DiagnosticsCallback(log_dir) passed to fit?"
        else:
            out = io.StringIO()
            print_report(report_document(runs), out)
            self.text = out.getvalue().rstrip()
        self._has_runs = bool(runs)

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the report file in a frame (``srcdoc``: nothing is fetched). The
        frame may run the report's own script and nothing else (no same-origin access)."""
        if not self._has_runs:
            return f"<pre>{html.escape(self.text)}</pre>"
        from tb_diag.plugin.html_report import report_html

        document = report_html(self.logdir)
        return (
            f'<iframe sandbox="allow-scripts" style="width: 100%; height: {FRAME_HEIGHT_PX}px; border: 0" '
            f'title="tb_diag report" srcdoc="{html.escape(document, quote=True)}"></iframe>'
        )


def show(logdir: str) -> LogdirReport:
    """The findings of ``logdir`` (see ``LogdirReport``): displayed as the tab's report when it is
    a notebook cell's value, as text when printed."""
    return LogdirReport(logdir)
