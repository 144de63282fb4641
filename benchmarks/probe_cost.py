"""What tb_diag's probes cost per step, measured finely: alternating fits inside ONE process.

``overhead.py`` is the reference benchmark (a fresh process per measurement, so process-global
tools like Debugger V2 can be compared), but on a small VM a fresh process per measurement has a
floor of a few percent even for a configuration that adds nothing to the graph. This script
resolves smaller differences: every variant gets its own model, all in one process, and the
variants' ``fit`` calls alternate in a shuffled order for several rounds. Each ``fit`` retraces
(the callback forces it), so the first ``--skip`` steps of every fit are dropped.

Variants (public options only):

* ``plain``: no callback.
* ``no_probes``: ``DiagnosticsCallback(probes=[])``: the optimizer hook, the retrace and the timed
  train loop (three timestamps per step), no probe ops.
* ``input_only``: ``probes=["input"]``: per-step wait/compute/host times.
* ``nonfinite_only``: ``probes=["nonfinite"]``: the NaN/Inf screen every step, the update held
  until its values are known finite.
* ``activations_only``: ``probes=["activations"]``: layer-output statistics every 10th step.
* ``activations_every_step``: the same with ``sample_every_steps=1``.
* ``memory_only``: ``probes=["memory"]``: host RSS and GPU figures per flush (host side only).
* ``gradients_only``: ``probes=["gradients"]``, gradient norms every step, sampled measurements
  never (``sample_every_steps`` larger than the run).
* ``default``: ``DiagnosticsCallback(log_dir)``.
* ``sample_every_step``: ``sample_every_steps=1`` (weight norms and update ratios every step).

Usage::

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 python benchmarks/probe_cost.py --model mlp
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = (
    "plain",
    "no_probes",
    "input_only",
    "nonfinite_only",
    "gradients_only",
    "activations_only",
    "activations_every_step",
    "memory_only",
    "default",
    "sample_every_step",
)


def _callbacks(variant: str, log_dir: str) -> list:
    from tb_diag import DiagnosticsCallback

    return {
        "plain": [],
        "no_probes": [DiagnosticsCallback(log_dir, probes=[])],
        "input_only": [DiagnosticsCallback(log_dir, probes=["input"])],
        "nonfinite_only": [DiagnosticsCallback(log_dir, probes=["nonfinite"])],
        "activations_only": [DiagnosticsCallback(log_dir, probes=["activations"])],
        "activations_every_step": [DiagnosticsCallback(log_dir, probes=["activations"], sample_every_steps=1)],
        "memory_only": [DiagnosticsCallback(log_dir, probes=["memory"])],
        "gradients_only": [DiagnosticsCallback(log_dir, probes=["gradients"], sample_every_steps=10**9)],
        "default": [DiagnosticsCallback(log_dir)],
        "sample_every_step": [DiagnosticsCallback(log_dir, sample_every_steps=1)],
    }[variant]


def main(argv: list[str] | None = None) -> None:
    """Prints, per variant, the median step time and the median/min/max per-round ratio to plain."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("cnn", "mlp"), default="mlp")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=320, help="steps per fit")
    parser.add_argument("--skip", type=int, default=30, help="first steps of each fit left out (tracing)")
    parser.add_argument("--jit", action="store_true", help="jit_compile=True")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="default: all (plain always runs)")
    args = parser.parse_args(argv)
    variants = ["plain"] + [variant for variant in args.variants if variant != "plain"]

    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.overhead import _build_model, _dataset, _StepTimer

    data = _dataset(tf, np, args.model, seed=0)
    models = {}
    for variant in variants:
        keras.utils.set_random_seed(0)
        models[variant] = _build_model(keras, args.model)
        models[variant].compile(
            keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=args.jit
        )
    log_root = tempfile.mkdtemp(prefix="probe_cost_")
    medians: dict[str, list[float]] = {variant: [] for variant in variants}
    order = list(variants)
    started = time.perf_counter()
    for round_index in range(args.rounds):
        random.Random(round_index).shuffle(order)
        for variant in order:
            # The timer goes last so a callback's own on_train_batch_end work counts in its step.
            timer = _StepTimer(keras, args.skip)
            callbacks = _callbacks(variant, os.path.join(log_root, variant)) + [timer]
            models[variant].fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=callbacks)
            medians[variant].append(statistics.median(timer.step_times))
    threads = (os.environ.get("TF_NUM_INTRAOP_THREADS", "default"), os.environ.get("TF_NUM_INTEROP_THREADS", "default"))
    print(f"model={args.model} jit={args.jit} rounds={args.rounds} steps/fit={args.steps} "
          f"threads intra/inter={threads[0]}/{threads[1]} wall={time.perf_counter() - started:.0f}s")
    print("| variant | median step | median ratio | ratio min–max |")
    print("|---|---:|---:|---:|")
    for variant in variants:
        ratios = [ours / plain for ours, plain in zip(medians[variant], medians["plain"])]
        print(f"| {variant} | {statistics.median(medians[variant]) * 1e3:.3f} ms | {statistics.median(ratios):.3f}× "
              f"| {min(ratios):.3f}×–{max(ratios):.3f}× |")


if __name__ == "__main__":
    main()
