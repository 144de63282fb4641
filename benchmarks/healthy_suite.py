"""Healthy standard models, trained with tb_diag: the findings a rule raises here are false alarms.

Each model of ``benchmarks/standard_models.py`` (``keras.applications`` CNNs, a Transformer
encoder, LSTM and GRU text models, an embedding-heavy model) is trained for ``--steps`` steps on
its synthetic data, which has a learnable class signal, with Keras' defaults (Adam 1e-3) and
``DiagnosticsCallback`` at its defaults. Nothing is wrong with any of them, so every warning or
error a rule raises on one is a false positive. The demo's ``healthy`` run belongs to the suite
too; ``tests/conftest.py`` trains it once per test session.

The planted faults (recall) are the demo's sick runs and the tests' planted cases; see
``docs/rules.md`` for each rule's precision and recall on both.

Usage::

    python benchmarks/healthy_suite.py                          # every model, full size, 300 steps
    python benchmarks/healthy_suite.py --small --steps 120 --models lstm transformer
    python benchmarks/healthy_suite.py --json /tmp/healthy.json --keep-logs /tmp/healthy_logs

From Python (the tests)::

    from benchmarks.healthy_suite import train_healthy, alarms
    run = train_healthy("lstm", log_dir, steps=120, small=True)
    alarms(run) == []        # warnings and errors only; info notes are listed by ``findings``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks.standard_models import MODELS, build, compile_model  # noqa: E402

# Steps per model when not told otherwise: "a few hundred", affordable on 2 CPU cores.
DEFAULT_STEPS = 300
# Distinct batches the synthetic data cycles through (an epoch); a fit runs several epochs, as
# real training does, so the per-epoch findings have more than one epoch to judge.
BATCHES_PER_EPOCH = 25


def train_healthy(
    model: str, log_dir: str, steps: int = DEFAULT_STEPS, small: bool = False, seed: int = 0, signal: bool = True,
    sample_every_steps: int | None = None, fits: int = 1, traces: list[int] | None = None,
) -> Any:
    """Trains standard model ``model`` healthily for ``steps`` steps, rounded up to whole epochs of
    ``BATCHES_PER_EPOCH`` batches, into ``log_dir``; returns its decoded run
    (``tb_diag.plugin.run_data.RunData``). ``sample_every_steps``: the callback's (default: its default).

    ``signal=False`` shuffles the labels: the model can only memorise (the issue-15 setting,
    "fitted briefly on random data", where attention query/key gradients stay tiny). Nothing is
    wrong with the model then either, so it must raise no alarm.

    ``fits > 1`` splits the epochs over that many ``fit`` calls (``initial_epoch`` going on), each
    with a new callback of the same settings: a notebook's or a tuner's loop. ``traces``, if given,
    receives after each fit how many times ``train_step`` has been traced so far (a later fit with
    the same settings must trace nothing new).
    """
    import keras

    from tb_diag import DiagnosticsCallback
    from tb_diag.plugin.run_data import load_logdir

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    keras.utils.set_random_seed(seed)
    net, data = build(model, keras, small=small)
    compile_model(net, keras)
    if traces is not None:
        _count_traces(net)
    epochs = max(1, -(-steps // BATCHES_PER_EPOCH))
    dataset = data.dataset(seed=seed, batches=BATCHES_PER_EPOCH, shuffle_labels=not signal)
    options = {} if sample_every_steps is None else {"sample_every_steps": sample_every_steps}
    ends = [round(epochs * (i + 1) / fits) for i in range(fits)]
    for start, end in zip([0] + ends[:-1], ends):
        if end == start:
            continue
        net.fit(
            dataset, initial_epoch=start, epochs=end, steps_per_epoch=min(steps, BATCHES_PER_EPOCH), verbose=0,
            callbacks=[DiagnosticsCallback(log_dir, **options)],
        )
        if traces is not None:
            traces.append(net.traces)
    (run,) = load_logdir(log_dir)
    return run


def _count_traces(model: Any) -> None:
    """Counts ``model.train_step`` calls in ``model.traces``: one per trace in a traced fit."""
    model.traces = 0
    step = model.train_step

    def train_step(data: Any) -> Any:
        model.traces += 1
        return step(data)

    object.__setattr__(model, "train_step", train_step)


def findings(run: Any) -> list[dict]:
    """Every finding of ``run`` as in the JSON report (``id``, ``severity``, ``title``, ...)."""
    from tb_diag.plugin.report import run_report

    return run_report(run)["findings"]


def alarms(run: Any) -> list[dict]:
    """The warnings and errors of ``run``: on a healthy model each one is a false alarm."""
    return [finding for finding in findings(run) if finding["severity"] in ("warning", "error")]


def run_suite(
    models: Sequence[str], steps: int, small: bool, seed: int = 0, keep_logs: str | None = None, signal: bool = True
) -> list[dict]:
    """Trains every model and returns one row each: ``model``, ``steps``, ``seconds``, ``findings``.
    With ``keep_logs``, each model's log dir is ``<keep_logs>/<model>`` and stays (``tensorboard
    --logdir`` it to see the healthy runs); else it is a temporary directory."""
    rows = []
    for model in models:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"healthy_{model}_") as scratch:
            log_dir = os.path.join(keep_logs, model) if keep_logs else scratch
            run = train_healthy(model, log_dir, steps=steps, small=small, seed=seed, signal=signal)
            found = findings(run)
        rows.append({"model": model, "steps": steps, "small": small, "signal": signal, "seconds": time.perf_counter() - started, "findings": found})
        print(
            f"{model}: {len(found)} finding(s) in {rows[-1]['seconds']:.0f}s: "
            + ("; ".join(f"{f['severity']} {f['id']} ({f['layer']}): {f['title']}" for f in found) or "none"),
            flush=True,
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: trains the suite and prints each model's findings; exit 1 if any alarm."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--small", action="store_true", help="the small model variants (as the tests run them)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="save the rows to this file")
    parser.add_argument("--no-signal", action="store_true", help="shuffled labels: the model can only memorise")
    parser.add_argument("--keep-logs", default=None, help="keep each model's log dir under this directory")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    rows = run_suite(args.models, args.steps, args.small, args.seed, args.keep_logs, signal=not args.no_signal)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)
    false_alarms = sum(f["severity"] in ("warning", "error") for row in rows for f in row["findings"])
    print(f"{false_alarms} false alarm(s) on {len(rows)} healthy model(s)")
    return 1 if false_alarms else 0


if __name__ == "__main__":
    sys.exit(main())
