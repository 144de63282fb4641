"""Writes a synthetic tb_diag log dir of any size, in the exact format the callback writes.

For the viewer's scale benchmark (``benchmarks/scale.py``): one run with ``--layers`` layers and
``--steps`` training steps, written the way a long ``fit`` would be (one block per
``--flush-every`` steps, through tb_diag's own ``SummaryWriter``):

* gradients every step (grad norms drifting slowly, weight norms and update ratios on every 10th
  step), with one spike and one NaN planted so the findings have something to find;
* input timings every step (a slow input pipeline in the second half);
* the layer list, environment card and NaN/Inf step list documents.

Activation statistics are not generated (``calls x 24`` floats per sampled step: ~1 GB at 1000
calls x 100 000 steps sampled every 10th step).

Usage::

    python benchmarks/synthetic_logdir.py OUT_DIR --layers 1000 --steps 100000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from tb_diag import schema
from tb_diag.core.writer import SummaryWriter

SPIKE_LAYER_STEP = (7, 0.61)  # (layer, fraction of the run): a gradient spike x1000
NAN_LAYER_STEP = (3, 0.83)  # a NaN gradient norm


def write_synthetic_run(run_dir: str, layers: int, steps: int, flush_every: int = 100, seed: int = 0) -> dict:
    """Writes the run (any path TensorBoard's writer takes, ``s3://`` included); returns what was
    planted ``{"spike_step", "nan_step", "bytes"}`` (``bytes``: None for a run dir that is not local)."""
    rng = np.random.default_rng(seed)
    writer = SummaryWriter(run_dir)
    paths = [f"block_{i // 4:03d}/dense_{i % 4}" for i in range(layers)]
    writer.write_layers(0, paths)
    writer.write_document(schema.ENVIRONMENT, 0, _environment(layers))
    base = rng.lognormal(mean=-2.0, sigma=1.0, size=layers).astype(np.float32)
    weights = rng.uniform(1.0, 20.0, size=layers).astype(np.float32)
    spike_step = max(1, int(steps * SPIKE_LAYER_STEP[1]))
    nan_step = max(1, int(steps * NAN_LAYER_STEP[1]))
    for first in range(1, steps + 1, flush_every):
        last = min(steps, first + flush_every - 1)
        count = last - first + 1
        step_numbers = np.arange(first, last + 1)
        decay = np.exp(-step_numbers / (steps * 2.0)).astype(np.float32)[:, None]
        grads = base[None, :] * decay * rng.lognormal(0.0, 0.2, size=(count, layers)).astype(np.float32)
        sampled = (step_numbers % 10 == 0)[:, None]
        weight_norm = np.where(sampled, weights[None, :] * (1 + step_numbers[:, None] / steps), schema.NOT_SAMPLED)
        update_ratio = np.where(sampled, grads * 0.01 / weights[None, :], schema.NOT_SAMPLED)
        block = np.stack([grads, weight_norm, update_ratio], axis=2).astype(np.float32)
        if first <= spike_step <= last:
            block[spike_step - first, SPIKE_LAYER_STEP[0] % layers, 0] *= 1000.0
        if first <= nan_step <= last:
            block[nan_step - first, NAN_LAYER_STEP[0] % layers, 0] = np.nan
        writer.write_block(schema.GRADIENTS, last, block)
        slow = step_numbers > steps // 2
        wait = np.where(slow, 0.030, 0.001) * rng.lognormal(0.0, 0.1, size=count)
        compute = 0.020 * rng.lognormal(0.0, 0.05, size=count)
        host = np.full(count, 0.0005)
        epoch = (step_numbers - 1) // 1000
        writer.write_block(schema.INPUT, last, np.stack([wait, compute, host, epoch], axis=1))
    writer.write_document(schema.NONFINITE_STEPS, steps, {"steps": []})
    writer.close()
    # The size only for a local run dir (the tests also write one to an S3 bucket).
    size = sum(os.path.getsize(os.path.join(run_dir, name)) for name in os.listdir(run_dir)) if os.path.isdir(run_dir) else None
    return {"spike_step": spike_step, "nan_step": nan_step, "bytes": size}


def _environment(layers: int) -> dict:
    return {
        "python": "3.11",
        "tensorflow": "synthetic",
        "keras": "synthetic",
        "platform": "synthetic",
        "cuda": None,
        "gpus": [],
        "mixed_precision": "float32",
        "optimizer": {"class": "Adam", "config": {"learning_rate": 0.001}},
        "batch_size": 32,
        "jit_compile": False,
        "steps_per_execution": 1,
        "distribution": {"strategy": "_DefaultDistributionStrategy", "replicas": 1},
        "seed": 0,
        "op_determinism": True,
        "model": {"name": "synthetic", "class": "Functional", "params": layers * 1000, "trainable_params": layers * 1000, "layers": [], "layers_cut": layers},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="log dir to create (the run goes to OUT_DIR/synthetic/train)")
    parser.add_argument("--layers", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--flush-every", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    planted = write_synthetic_run(os.path.join(args.out_dir, "synthetic", "train"), args.layers, args.steps, args.flush_every)
    size = f"{planted['bytes'] / 1e6:.0f} MB" if planted["bytes"] is not None else "the run"
    print(f"wrote {size} in {time.perf_counter() - started:.1f} s; planted {planted}")


if __name__ == "__main__":
    main()
