"""Where tb_diag's step-time overhead goes: A/B of stripped-down variants of the gradients probe.

Same protocol as ``overhead.py`` (fresh process per measurement, alternating shuffled rounds,
ratio to the same round's ``plain``), but the configurations are variants of what
``DiagnosticsCallback`` puts into the train step. The variants replace ``PROBES["gradients"]``
inside the worker process only; tb_diag's code is not changed.

Variants (each includes everything of the previous ones unless said otherwise):

- ``plain``: no callback.
- ``no_probes``: ``DiagnosticsCallback(probes=[])``: optimizer.apply wrapper, forced retrace, writer.
- ``record_only``: a probe that only advances the step counter and scatters a zero row.
- ``grad_norm``: + per-layer gradient norms (l2_loss, segment_sum, float64 fallback ``tf.cond``).
- ``grad_norm_nocond``: as ``grad_norm`` without the ``tf.cond`` overflow fallback.
- ``grad_weight_norm``: + per-layer weight norms after the update.
- ``full``: the real ``GradientsProbe`` (+ weight copies before the update, deltas, update norms).

Usage::

    python benchmarks/profile_tb_diag.py --models mlp cnn --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import overhead  # noqa: E402

VARIANTS = ("plain", "no_probes", "record_only", "grad_norm", "grad_norm_nocond", "grad_weight_norm", "full")


def _install_variant(variant: str) -> None:
    import tensorflow as tf

    from tb_diag import probes as probes_module
    from tb_diag.probes import gradients

    base = gradients.GradientsProbe

    def norms_nocond(tensors, layer_ids, layer_count):
        segment_ids = tf.constant(list(layer_ids), tf.int32)
        squares = 2.0 * tf.stack([tf.nn.l2_loss(tf.cast(t, tf.float32)) for t in tensors])
        return tf.sqrt(tf.math.unsorted_segment_sum(squares, segment_ids, layer_count))

    class RecordOnly(base):
        def before_apply(self, update):
            return None

        def after_apply(self, update, state):
            self._buffer.record(update.step, tf.zeros([self._layer_count, 3]))

    class GradNorm(base):
        norms = staticmethod(gradients.layer_norms)

        def before_apply(self, update):
            return self.norms(list(update.grads), update.layer_ids, self._layer_count)

        def after_apply(self, update, state):
            zeros = tf.zeros_like(state)
            self._buffer.record(update.step, tf.stack([state, zeros, zeros], axis=1))

    class GradNormNoCond(GradNorm):
        norms = staticmethod(norms_nocond)

    class GradWeightNorm(GradNorm):
        def after_apply(self, update, state):
            weights = [tf.convert_to_tensor(v) for v in update.variables]
            weight_norm = gradients.layer_norms(weights, update.layer_ids, self._layer_count)
            self._buffer.record(update.step, tf.stack([state, weight_norm, tf.zeros_like(state)], axis=1))

    chosen = {
        "record_only": RecordOnly,
        "grad_norm": GradNorm,
        "grad_norm_nocond": GradNormNoCond,
        "grad_weight_norm": GradWeightNorm,
        "full": base,
    }[variant]
    probes_module.PROBES["gradients"] = chosen


def run_variant(model: str, variant: str, steps: int, warmup: int, jit: bool, seed: int) -> dict:
    """In this process: measures one variant (mutates the tb_diag probe registry for good)."""
    if variant == "plain":
        return overhead.run_worker(model, "plain", steps=steps, warmup=warmup, jit=jit, seed=seed)
    if variant == "no_probes":
        return overhead.run_worker(model, "tb_diag_no_probes", steps=steps, warmup=warmup, jit=jit, seed=seed)
    _install_variant(variant)
    return overhead.run_worker(model, "tb_diag", steps=steps, warmup=warmup, jit=jit, seed=seed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--model", choices=overhead.MODELS)
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument("--models", nargs="+", choices=overhead.MODELS, default=["mlp", "cnn"])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit", action="store_true", help="jit_compile=True instead of False")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.worker:
        result = run_variant(args.model, args.variant, args.steps, args.warmup, args.jit, args.seed)
        result["config"] = args.variant
        print(overhead.RESULT_MARKER + json.dumps(result), flush=True)
        return 0

    variants = args.variants if "plain" in args.variants else ["plain", *args.variants]
    jobs = [(model, variant) for model in args.models for variant in variants]
    rng = random.Random(args.seed)
    results, loads = [], [os.getloadavg()]
    started = time.perf_counter()
    for round_index in range(args.rounds):
        order = jobs[:]
        rng.shuffle(order)
        for model, variant in order:
            cmd = [
                sys.executable, os.path.abspath(__file__), "--worker", "--model", model, "--variant", variant,
                "--steps", str(args.steps), "--warmup", str(args.warmup), "--seed", str(args.seed),
            ] + (["--jit"] if args.jit else [])
            proc = subprocess.run(cmd, capture_output=True, text=True, env=overhead.worker_env(), cwd=overhead.REPO)
            lines = [l for l in proc.stdout.splitlines() if l.startswith(overhead.RESULT_MARKER)]
            if lines:
                result = json.loads(lines[-1][len(overhead.RESULT_MARKER):])
            else:
                result = {"model": model, "config": variant, "jit": args.jit, "status": "error",
                          "error": " | ".join(proc.stderr.strip().splitlines()[-5:])}
            result["round"] = round_index
            results.append(result)
            loads.append(os.getloadavg())
            note = f"{1e3 * result['median_s']:.3f} ms" if result["status"] == "ok" else result.get("error")
            print(f"[round {round_index + 1}/{args.rounds} {time.perf_counter() - started:6.0f}s] {model} {variant:18s} {note}",
                  file=sys.stderr, flush=True)
    run = {"results": results, "load_samples": loads, "elapsed_s": time.perf_counter() - started,
           "configs": variants, "models": args.models, "jit_modes": [args.jit], "rounds": args.rounds}
    rows = overhead.summarize(run)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**run, "rows": rows}, f, indent=1)
    load = [l[0] for l in loads]
    print(f"{args.rounds} rounds, {args.steps} timed steps, jit={args.jit}, load avg {min(load):.2f}–{max(load):.2f}, "
          f"{run['elapsed_s'] / 60:.1f} min\n")
    print("| model | variant | median step | median ratio | ratio min–max | mean-step ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        if row["status"] != "ok":
            print(f"| {row['model']} | {row['config']} | error | | | |")
            continue
        print(f"| {row['model']} | {row['config']} | {row['config_ms']:.3f} ms | {row['ratio']:.3f}× "
              f"| {row['ratio_min']:.3f}×–{row['ratio_max']:.3f}× | {row['mean_ratio']:.3f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
