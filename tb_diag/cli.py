"""``tb-diag``: the findings of a log dir in the terminal, and a CI gate.

Exit codes: ``report`` 0; ``check`` 1 if any run has an error-level root cause (a finding that is
not a consequence of another, see ``tb_diag.plugin.causes``), else 0. Both: 2 for
bad usage, a log dir that cannot be read, or a log dir without tb_diag data (a gate must not pass
because the callback was never attached).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from typing import Sequence, TextIO

from tb_diag.plugin.diagnostics.environment import REMEDY as REPRODUCIBILITY_REMEDY
from tb_diag.plugin.report import json_safe, report_document
from tb_diag.plugin.run_data import load_logdir

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="tb-diag", description="Training diagnostics recorded by tb_diag.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="print every run's diagnostics and findings")
    report.add_argument("logdir", help="the directory given to DiagnosticsCallback / tensorboard --logdir")
    report.add_argument("--json", action="store_true", help="print the JSON report (documented in docs/cli.md)")
    report.add_argument(
        "--html", metavar="FILE",
        help="write the Overview, findings and panels as one self-contained HTML file (opens without TensorBoard or network)",
    )
    check = commands.add_parser("check", help="exit 1 if any run has an error-level finding")
    check.add_argument("logdir", help="the directory given to DiagnosticsCallback / tensorboard --logdir")
    args = parser.parse_args(argv)

    if not readable_logdir(args.logdir):
        print(f"tb-diag: cannot read log dir {args.logdir!r}: not a readable directory", file=sys.stderr)
        return EXIT_USAGE
    runs = load_logdir(args.logdir)
    if not runs:
        print(f"tb-diag: no tb_diag data under {args.logdir!r}; was DiagnosticsCallback(log_dir) passed to fit?", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "report" and args.html:
        from tb_diag.plugin.html_report import ReportBundleMissing, write_report_html

        try:
            size = write_report_html(args.logdir, args.html)
        except ReportBundleMissing as error:
            print(f"tb-diag: cannot write the HTML report: {error}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as error:
            print(f"tb-diag: cannot write {args.html!r}: {error.strerror or error}", file=sys.stderr)
            return EXIT_USAGE
        print(f"tb-diag: wrote {args.html} ({len(runs)} run(s), {size / 1e6:.1f} MB): open it in a browser, no server needed")
        return EXIT_OK
    document = report_document(runs)
    if args.command == "report" and args.json:
        json.dump(json_safe(document), sys.stdout, indent=2)
        print()
        return EXIT_OK
    print_report(document, sys.stdout)
    if args.command == "check":
        # Root causes: the NaN/Inf that ends a gradient explosion is one problem, not two.
        errors = sum(f["severity"] == "error" and f.get("caused_by") is None for run in document["runs"] for f in run["findings"])
        print(f"tb-diag check: {errors} error-level root cause(s)")
        return EXIT_FINDINGS if errors else EXIT_OK
    return EXIT_OK


def readable_logdir(logdir: str) -> bool:
    """Whether ``logdir`` is a directory this process can read: checked through TensorBoard's own
    filesystem layer for URLs (``gs://``, ``s3://``, ...), which is what reads it next."""
    if "://" in logdir:
        from tensorboard.compat import tf as tb_tf  # TensorFlow's gfile if installed, else TensorBoard's

        try:
            return bool(tb_tf.io.gfile.isdir(logdir))
        except Exception:  # An unknown scheme or an unreachable store: not readable.
            return False
    return os.path.isdir(logdir) and os.access(logdir, os.R_OK | os.X_OK)


def print_report(document: dict, out: TextIO) -> None:
    """Writes the human-readable report: per run, a line per diagnostic and every finding; then
    what differs between the runs' environments."""
    for run in document["runs"]:
        print(f"run {run['run']}: {run['steps']} steps, {len(run['layers'])} layers", file=out)
        for line in run["overview"]:
            if line["text"]:
                print(f"  {line['label']}: {line['text']}", file=out)
        for warning in run["warnings"]:
            print(f"  note: {warning}", file=out)
        if not run["findings"]:
            print("  no findings", file=out)
        for finding in run["findings"]:
            where = "".join(
                [f" at step {finding['step']}" if finding["step"] is not None else "", f" in '{finding['layer']}'" if finding["layer"] else ""]
            )
            # A consequence is listed, indented, under its root cause (the report orders them so).
            cause = finding.get("caused_by")
            indent = "      " if cause else "  "
            prefix = f"consequence of {cause}: " if cause else ""
            print(f"{indent}{prefix}{finding['severity'].upper()} {finding['id']}{where}: {finding['title']}", file=out)
            for label, text in (("", finding["detail"]), ("fix: ", finding["remedy"])):
                if cause and label:
                    continue  # the cause's remedy is the fix
                print(textwrap.fill(label + text, width=100, initial_indent=indent + "  ", subsequent_indent=indent + "    "), file=out)
        print(file=out)
    not_reproducible = document.get("not_reproducible") or {}
    if not_reproducible:
        print(f"{len(not_reproducible)} of the runs cannot be reproduced exactly: part of any difference between them can be chance:", file=out)
        for run, why in not_reproducible.items():
            print(textwrap.fill(f"{run}: {why}", width=100, initial_indent="  ", subsequent_indent="    "), file=out)
        print(textwrap.fill("fix: " + REPRODUCIBILITY_REMEDY, width=100, initial_indent="  ", subsequent_indent="    "), file=out)
    differing = document.get("environment_mismatches") or {}
    if differing:
        print("environments differ between runs:", file=out)
        for field, values in differing.items():
            shown = "; ".join(f"{run}: {value[:80]}" for run, value in values.items())
            print(textwrap.fill(f"{field}: {shown}", width=100, initial_indent="  ", subsequent_indent="    "), file=out)


if __name__ == "__main__":
    sys.exit(main())
