"""``tb-diag``: the findings of a log dir in the terminal, and a CI gate.

Exit codes: ``report`` 0; ``check`` 1 if any run has an error-level finding, else 0. Both: 2 for
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

from tb_diag.plugin.report import json_safe, report_document
from tb_diag.plugin.run_data import load_logdir

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="tb-diag", description="Training diagnostics recorded by tb_diag.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="print every run's diagnostics and findings")
    report.add_argument("logdir", help="the directory given to DiagnosticsCallback / tensorboard --logdir")
    report.add_argument("--json", action="store_true", help="print the JSON report (documented in the README)")
    check = commands.add_parser("check", help="exit 1 if any run has an error-level finding")
    check.add_argument("logdir", help="the directory given to DiagnosticsCallback / tensorboard --logdir")
    args = parser.parse_args(argv)

    if not os.path.isdir(args.logdir) or not os.access(args.logdir, os.R_OK | os.X_OK):
        print(f"tb-diag: cannot read log dir {args.logdir!r}: not a readable directory", file=sys.stderr)
        return EXIT_USAGE
    runs = load_logdir(args.logdir)
    if not runs:
        print(f"tb-diag: no tb_diag data under {args.logdir!r}; was DiagnosticsCallback(log_dir) passed to fit?", file=sys.stderr)
        return EXIT_USAGE
    document = report_document(runs)
    if args.command == "report" and args.json:
        json.dump(json_safe(document), sys.stdout, indent=2)
        print()
        return EXIT_OK
    print_report(document, sys.stdout)
    if args.command == "check":
        errors = sum(f["severity"] == "error" for run in document["runs"] for f in run["findings"])
        print(f"tb-diag check: {errors} error-level finding(s)")
        return EXIT_FINDINGS if errors else EXIT_OK
    return EXIT_OK


def print_report(document: dict, out: TextIO) -> None:
    """Writes the human-readable report: per run, a line per diagnostic and every finding; then
    what differs between the runs' environments."""
    for run in document["runs"]:
        print(f"run {run['run']}: {run['steps']} steps, {len(run['layers'])} layers", file=out)
        gradients = run.get("gradients") or {}
        if gradients:
            largest = max(gradients, key=lambda layer: _sortable(gradients[layer]["max"]))
            print(f"  gradients: largest norm {gradients[largest]['max']:.3g} in '{largest}'", file=out)
        nonfinite = run.get("nonfinite")
        if nonfinite:
            where = f", '{nonfinite['layer']}'" if nonfinite["layer"] else ""
            print(
                f"  NaN/Inf: first at step {nonfinite['step']} ({nonfinite['phase']}{where}); update {nonfinite['action']}; "
                f"{nonfinite['bad_steps']} step(s) with NaN/Inf",
                file=out,
            )
        calls = run.get("activations") or {}
        if calls:
            latest = max(entry["step"] for entry in calls.values())
            print(f"  activations: {len(calls)} layer calls and inputs, latest sample at step {latest}", file=out)
        env = run.get("environment") or {}
        if env:
            print(
                f"  environment: TensorFlow {env.get('tensorflow')}, Keras {env.get('keras')}, Python {env.get('python')}; "
                f"optimizer {(env.get('optimizer') or {}).get('class')}; batch {env.get('batch_size')}; "
                f"jit_compile {env.get('jit_compile')}; mixed precision {env.get('mixed_precision')}; "
                f"{len(env.get('gpus') or [])} GPU(s); seed {env.get('seed')}",
                file=out,
            )
        memory = run.get("memory") or {}
        if memory:
            rss = [v for v in memory["host_rss_bytes"] if v is not None]
            gpu = f"{len(memory['gpu'])} GPU(s)" if memory["gpu"] else f"no GPU figures ({memory['gpu_unavailable'] or 'none recorded'})"
            print(f"  memory: host RSS {rss[-1] / 2**20:.0f} MiB at the last flush; {memory['retraces']} retrace(s); {gpu}" if rss else "  memory: no host figures", file=out)
        timing = run.get("input") or {}
        if timing.get("verdict") is not None:
            print(
                f"  input: {timing['verdict']} input-bound, {timing['wait_fraction']:.0%} of step time waiting; "
                f"step p50 {timing['step_p50_s'] * 1000:.3g} ms, p95 {timing['step_p95_s'] * 1000:.3g} ms",
                file=out,
            )
        for warning in run["warnings"]:
            print(f"  note: {warning}", file=out)
        if not run["findings"]:
            print("  no findings", file=out)
        for finding in run["findings"]:
            where = "".join(
                [f" at step {finding['step']}" if finding["step"] is not None else "", f" in '{finding['layer']}'" if finding["layer"] else ""]
            )
            print(f"  {finding['severity'].upper()} {finding['id']}{where}: {finding['title']}", file=out)
            for label, text in (("", finding["detail"]), ("fix: ", finding["remedy"])):
                print(textwrap.fill(label + text, width=100, initial_indent="    ", subsequent_indent="      "), file=out)
        print(file=out)
    differing = document.get("environment_mismatches") or {}
    if differing:
        print("environments differ between runs:", file=out)
        for field, values in differing.items():
            shown = "; ".join(f"{run}: {value[:80]}" for run, value in values.items())
            print(textwrap.fill(f"{field}: {shown}", width=100, initial_indent="  ", subsequent_indent="    "), file=out)


def _sortable(value: float) -> float:
    return float("inf") if value != value else value  # NaN counts as the largest


if __name__ == "__main__":
    sys.exit(main())
