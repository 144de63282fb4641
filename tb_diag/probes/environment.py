"""Environment probe: the card that says what a run was trained with, written once per fit."""

from __future__ import annotations

import json
import platform
from typing import Any

import keras
import tensorflow as tf

from tb_diag import schema
from tb_diag.core.fit_context import FitContext
from tb_diag.core.layer_calls import leaf_layers
from tb_diag.core.model_check import setup_facts
from tb_diag.core.writer import SummaryWriter
from tb_diag.probes.base import Probe, ProbeSetup

# A model summary longer than this many layers is cut (the card must stay small).
MAX_SUMMARY_LAYERS = 2000


class EnvironmentProbe(Probe):
    """Writes, at the first flush of each ``fit``, one document with:

    ``python``, ``tensorflow``, ``keras``, ``platform``; ``cuda`` (TensorFlow's build: CUDA and
    cuDNN versions, and the NVML driver version when NVML is available); ``gpus`` (TensorFlow's
    device details); ``mixed_precision`` (Keras' global policy); ``optimizer`` (class and config);
    ``batch_size`` (the leading dimension of the input, ``null`` if not fixed); ``jit_compile``;
    ``run_eagerly``; ``steps_per_execution``; ``distribution`` (strategy class and replicas); ``seed`` (TensorFlow's
    global seed, ``null`` if none was set: ``keras.utils.set_random_seed`` sets it);
    ``op_determinism``; ``model`` (name, parameter counts and per layer: path, class, output
    shape, parameters); ``setup`` (the model check's facts, ``tb_diag.core.model_check``); ``fit``
    (what the ``fit`` call was given: ``shuffle``, ``steps_per_epoch``, the data adapter, the last
    batch's size, the other callbacks; ``tb_diag.core.fit_context``).

    Nothing here runs in the train step; a field that cannot be read is ``null``.
    """

    name = "environment"
    under_replicas = "the chief's environment, with the strategy and its replica count"

    def start(self, setup: ProbeSetup) -> None:
        # Keras' array adapter leaves the batch dimension unknown: the sampled step records it.
        self._batch_size = tf.Variable(0, dtype=tf.int64, trainable=False, name="tb_diag_batch_size")
        # Under several replicas the step sees one replica's share of the global batch.
        self._replicas = int(setup.model.distribute_strategy.num_replicas_in_sync) if setup.model is not None else 1

    def begin_fit(self, setup: ProbeSetup) -> None:
        self._card = environment_card(setup.model, setup.input_iterator, setup.fit)
        self._written = False
        self._written_batch_size: int | None = None

    def on_step_start(self, data: Any, sampled: bool) -> None:
        first = next((t for t in tf.nest.flatten(data) if isinstance(t, tf.Tensor)), None)
        if sampled and first is not None and first.shape.rank:
            self._batch_size.assign(tf.cast(tf.shape(first)[0], tf.int64) * self._replicas)

    def flush(self, writer: SummaryWriter, first_step: int, last_step: int) -> None:
        """Writes the card at the fit's first flush; once more when the batch size, unknown then,
        has been seen by a sampled step since (the first flush comes after the first step, the
        sampled trace runs from the second)."""
        seen = int(self._batch_size.numpy()) or None
        if self._written and not (self._written_batch_size is None and seen):
            return
        card = dict(self._card, batch_size=self._card["batch_size"] or seen)
        writer.write_document(schema.ENVIRONMENT, first_step - 1, card)
        self._written = True
        self._written_batch_size = card["batch_size"]


def environment_card(model: Any, iterator: Any, fit: FitContext = FitContext()) -> dict:
    """The environment card for ``model`` trained from ``iterator`` in ``fit`` (see ``EnvironmentProbe``)."""
    layers = _safe(lambda: leaf_layers(model))  # None if unreadable: then so are "model" and "setup"
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "cuda": _safe(_cuda),
        "gpus": _safe(_gpus) or [],
        "mixed_precision": _safe(lambda: keras.mixed_precision.global_policy().name),
        "optimizer": _safe(lambda: _optimizer(model.optimizer)),
        "batch_size": _safe(lambda: _batch_size(iterator)),
        "jit_compile": _safe(lambda: bool(model.jit_compile)),
        "run_eagerly": _safe(lambda: bool(model.run_eagerly)),
        "steps_per_execution": _safe(lambda: int(model.steps_per_execution or 1)),
        "distribution": _safe(lambda: {"strategy": strategy_name(model.distribute_strategy), "replicas": int(model.distribute_strategy.num_replicas_in_sync)}),
        "seed": _safe(_global_seed),
        "op_determinism": _safe(_op_determinism),
        "model": _safe(lambda: _model_summary(model, layers)),
        "setup": _safe(lambda: setup_facts(model, layers)),
        "fit": _safe(fit.facts),
    }


def strategy_name(strategy: Any) -> str:
    """The public name of a ``tf.distribute`` strategy (``MultiWorkerMirroredStrategy``, not the
    class behind it)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__


def _safe(read: Any) -> Any:
    try:
        return read()
    except Exception:  # One unreadable field must not cost the card (or the fit).
        return None


def _cuda() -> dict:
    build = tf.sysconfig.get_build_info()
    card = {"cuda_build": build.get("cuda_version"), "cudnn_build": build.get("cudnn_version"), "driver": None}
    if tf.config.list_physical_devices("GPU"):
        try:
            import pynvml

            pynvml.nvmlInit()
            driver = pynvml.nvmlSystemGetDriverVersion()
            card["driver"] = driver.decode() if isinstance(driver, bytes) else str(driver)
        except Exception:
            pass
    return card


def _gpus() -> list[dict]:
    return [
        {"device": device.name, **{k: str(v) for k, v in tf.config.experimental.get_device_details(device).items()}}
        for device in tf.config.list_physical_devices("GPU")
    ]


def _optimizer(optimizer: Any) -> dict:
    config = optimizer.get_config()
    # Schedules and other objects become their text; the card is JSON.
    return {"class": type(optimizer).__name__, "config": json.loads(json.dumps(config, default=str))}


def _batch_size(iterator: Any) -> int | None:
    spec = getattr(iterator, "element_spec", None)
    first = tf.nest.flatten(spec)[0] if spec is not None else None
    dims = getattr(first, "shape", None)
    return int(dims[0]) if dims is not None and dims.rank and dims[0] is not None else None


def _global_seed() -> int | None:
    from tensorflow.python.eager import context

    return context.global_seed()


def _op_determinism() -> bool:
    from tensorflow.python.framework import config

    return bool(config.is_op_determinism_enabled())


def _model_summary(model: Any, leaves: list[tuple[str, Any]]) -> dict:
    layers = []
    for path, layer in leaves[:MAX_SUMMARY_LAYERS]:
        output = _safe(lambda: layer.output.shape)
        layers.append(
            {"path": path, "class": type(layer).__name__, "output_shape": None if output is None else str(tuple(output)), "params": int(layer.count_params()) if layer.built else 0}
        )
    return {
        "name": model.name,
        "class": type(model).__name__,
        "params": int(model.count_params()),
        "trainable_params": int(sum(int(tf.size(v)) for v in model.trainable_variables)),
        "layers": layers,
        "layers_cut": max(0, len(leaves) - MAX_SUMMARY_LAYERS),
    }
