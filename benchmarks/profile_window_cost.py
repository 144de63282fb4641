"""What the opt-in memory profiler windows cost: the same fit with and without them, alternating.

Windows are off by default (``DiagnosticsCallback(profile_memory_every_steps=None)``). This script
fits the benchmark MLP with the defaults and with ``profile_memory_every_steps=100,
profile_memory_steps=5``, alternating for a few rounds in one process, and prints the mean and
median step time of each (the mean includes the windows; the median mostly does not).

Usage::

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 python benchmarks/profile_window_cost.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str] | None = None) -> None:
    """Prints mean and median step time with and without profiler windows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=330)
    parser.add_argument("--every", type=int, default=100, help="profile_memory_every_steps")
    parser.add_argument("--window", type=int, default=5, help="profile_memory_steps")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.overhead import _build_model, _dataset, _StepTimer
    from tb_diag import DiagnosticsCallback

    data = _dataset(tf, np, "mlp", seed=0)
    variants = {"defaults": {}, "windows": {"profile_memory_every_steps": args.every, "profile_memory_steps": args.window}}
    models, results = {}, {name: [] for name in variants}
    for name in variants:
        keras.utils.set_random_seed(0)
        models[name] = _build_model(keras, "mlp")
        models[name].compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for _ in range(args.rounds):
        for name, options in variants.items():
            timer = _StepTimer(keras, 30)
            callback = DiagnosticsCallback(tempfile.mkdtemp(prefix="window_cost_"), **options)
            models[name].fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[callback, timer])
            results[name].append((statistics.mean(timer.step_times), statistics.median(timer.step_times)))
    for name, rows in results.items():
        mean = statistics.median(row[0] for row in rows) * 1e3
        median = statistics.median(row[1] for row in rows) * 1e3
        print(f"{name}: mean step {mean:.3f} ms, median step {median:.3f} ms")


if __name__ == "__main__":
    main()
