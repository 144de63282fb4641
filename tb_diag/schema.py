"""The summary schema: how tb_diag data is laid out in TensorBoard event files.

This module is the single source of truth shared by the training-side writer and the viewer-side
reader. It imports only numpy and TensorBoard's protos (never TensorFlow), so a teammate can view a
log dir without TensorFlow installed.

Layout of one run (a directory such as ``logs/run1/train``):

* Every summary uses ``plugin_data.plugin_name = "tb_diag"`` and ``data_class = DATA_CLASS_TENSOR``
  (without the latter TensorBoard's Rust data server ignores the data).
* ``plugin_data.content`` is a small JSON document ``{"version": 1, "family": ..., "metrics": [...]}``
  naming the family and the order of the metric axis. TensorBoard keeps metadata only from a tag's
  first event, so a family's metric order never changes within a schema version.
* The ``tb_diag/layers`` tag holds a JSON string ``{"layers": [...]}``: the run's layer paths, written
  when a ``fit`` starts, at the step before its first training step.
* Each diagnostic family has ONE tag (e.g. ``tb_diag/gradients``). One event holds a block of
  consecutive training steps as a float32 tensor of shape ``[steps, layers, metrics]``; the event's
  step is the block's last step, so its steps are ``step - steps + 1 ... step``.
* Per-step families (not about layers, e.g. ``tb_diag/input``) store ``[steps, metrics]`` blocks
  the same way.
* Document families (e.g. ``tb_diag/input_pipeline``) hold one JSON object per ``fit``, written at
  its first step; the newest one up to a step describes that step.
* A metric recorded only on sampled steps holds ``NOT_SAMPLED`` (-1, never a valid norm or ratio)
  on the other steps, so NaN keeps its meaning: the value itself was NaN.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from tensorboard.compat.proto import summary_pb2
from tensorboard.util import tensor_util

# Marks a metric not recorded at that step (gradients: weight_norm and update_ratio). The served
# matrices use it too, so it is defined with the words the tab shares.
from tb_diag.vocabulary import NOT_SAMPLED  # noqa: F401 (re-exported)

PLUGIN_NAME = "tb_diag"
SCHEMA_VERSION = 1
TAG_PREFIX = "tb_diag/"

# The longest JSON metadata / layer document we accept; anything larger is treated as corrupt.
MAX_JSON_BYTES = 4 * 1024 * 1024


class SchemaError(ValueError):
    """Raised when stored data does not match the schema (corrupt, foreign or from a newer version)."""


# What a family's values are laid out as (``Family.kind``).
PER_LAYER = "per_layer"  # float32 [steps, layers, metrics]
PER_STEP = "per_step"  # float32 [steps, metrics]
DOCUMENT = "document"  # a JSON object as a scalar string


@dataclasses.dataclass(frozen=True)
class Family:
    """One kind of recorded data: its tag, the names of its metric axis in order, and its layout.

    ``rows`` (per-layer families) names the document family whose ``{"layers": [...]}`` lists the
    block's rows: the layers owning weights (``"layers"``) or, e.g., every layer call. ``listed``
    says whether a run that has the family lists it among its recorded diagnostics (``GET runs``);
    by default blocks are, documents (row lists, descriptions) are not.
    """

    name: str
    metrics: tuple[str, ...]
    kind: str = PER_LAYER
    rows: str = "layers"
    listed: bool | None = None

    @property
    def is_listed(self) -> bool:
        """Whether ``GET runs`` lists this family as a diagnostic the run recorded."""
        return self.kind != DOCUMENT if self.listed is None else self.listed

    @property
    def tag(self) -> str:
        """The TensorBoard tag this family is written under (its first part, see ``part_tag``)."""
        return TAG_PREFIX + self.name

    def part_tag(self, part: int) -> str:
        """The tag of the family's ``part``-th part: ``tag`` for 0, ``tag + "/part<n>"`` after.

        Block families of a long run are spread over several tags, each at most ``PART_BYTES``:
        TensorBoard's data server answers one tag's events in one gRPC message of at most 256 MB,
        and 1000 layers x 100 000 steps of gradients is 1.2 GB.
        """
        return self.tag if part == 0 else f"{self.tag}{PART_SEPARATOR}{part}"


LAYERS = Family("layers", (), DOCUMENT)
GRADIENTS = Family("gradients", ("grad_norm", "weight_norm", "update_ratio"))
# Seconds waiting for the batch, computing the step, and on the host between the previous step
# and this one (NOT_SAMPLED at the first step of an epoch); the epoch the step belongs to.
INPUT = Family("input", ("wait_s", "compute_s", "host_s", "epoch"), PER_STEP)
# What the input pipeline is made of: {"source": ..., "stages": [...], ...} (see probes/input.py).
INPUT_PIPELINE = Family("input_pipeline", (), DOCUMENT)

# Every layer call of the sampled train steps (and the model inputs): rows listed by the
# ``activation_calls`` document, ``{"layers": [row names], "calls": [{"name", "layer", "activation",
# "kind"}]}``; sampled steps only: each run of consecutive sampled steps is one block (logs from
# before 2026-11-22 hold every step, with unsampled rows all NOT_SAMPLED; both read the same).
ACTIVATION_CALLS = Family("activation_calls", (), DOCUMENT)
HISTOGRAM_BINS = 16
ACTIVATIONS = Family(
    "activations",
    ("mean", "std", "min", "max", "zero_fraction", "dead_fraction", "saturation", "feature_spread")
    + tuple(f"hist_{i}" for i in range(HISTOGRAM_BINS)),
    PER_LAYER,
    rows=ACTIVATION_CALLS.name,
)

# Host memory, one document per flush: {"fit_index", "epoch", "host_rss_bytes", "live_models",
# "process": {"pid", "host", "fits": [{"fit_index", "host_rss_bytes", "live_models"}, ...]}}: which
# fit of this process it is, and the memory at the start of every fit the process ran so far (so a
# run shows growth across fits even when each fit logs to its own directory). A document family
# because fresh models restart at step 1: rows keyed by step would overwrite each other.
MEMORY = Family("memory", (), DOCUMENT, listed=True)
# The input signatures the train step was traced with: {"fit_index": n, "traces": [{"step", "epoch",
# "signature"}], "unavailable": "why there are no GPU figures" | null}.
TRACES = Family("traces", (), DOCUMENT)
# Opt-in profiler windows, one document per flush after a window: {"windows": [{"step",
# "allocator", "events", "fragmentation_median", "fragmentation_max", "bytes_in_use_max",
# "peak_bytes_in_use"}], "skipped": "why a window could not run" | null} (all windows of the fit).
MEMORY_PROFILES = Family("memory_profiles", (), DOCUMENT)
# The environment card, one document per fit (see probes/environment.py for its fields).
ENVIRONMENT = Family("environment", (), DOCUMENT, listed=True)
# Per GPU ("layers" are device names, "devices" their product names), one row per flush.
GPU_DEVICES = Family("gpu_devices", (), DOCUMENT)
GPU_MEMORY = Family(
    "gpu_memory", ("tf_in_use", "tf_peak", "device_total", "device_used", "process_used"), PER_LAYER, rows=GPU_DEVICES.name
)

# The first step with a NaN/Inf since the previous flush, in full: {"step", "epoch", "phase", "on_nan",
# "action", "weights_kept", "loss", "loss_seen", "inputs": [{"name", "nan", "posinf", "neginf",
# "max_abs"}], "calls": [{"name", "layer", "in": {...}, "out": {...}}], "layers": [{"layer", "grad":
# {...}, "weights": {...}}]} (see probes/nonfinite.py); written at that step.
NONFINITE = Family("nonfinite", (), DOCUMENT, listed=True)
# Every step with a NaN/Inf between two flushes: {"on_nan", "steps": [{"step", "phase", "action"}]}.
NONFINITE_STEPS = Family("nonfinite_steps", (), DOCUMENT)
# Mixed precision: the LossScaleOptimizer's scale at each step and whether the step overflowed
# (its update skipped by the optimizer, not by tb_diag).
LOSS_SCALE = Family("loss_scale", ("scale", "overflow"), PER_STEP)

# Keras' epoch logs, one document per epoch, at the epoch's last step: {"epoch": n (Keras' epoch
# index in its fit), "logs": {"loss": ..., "val_loss": ..., ...}} (finite numbers only).
EPOCHS = Family("epochs", (), DOCUMENT)
# The other callbacks' batch-hook seconds and the loop's, per flush window.
CALLBACKS = Family("callbacks", (), DOCUMENT)
# Under run_eagerly: the forward pass timed eagerly and traced, once per model.
EAGER = Family("eager", (), DOCUMENT)
# Stateful RNN layers whose states were carried into a new epoch, one document per epoch checked.
STATEFUL = Family("stateful", (), DOCUMENT)

FAMILIES: dict[str, Family] = {
    family.tag: family
    for family in (
        LAYERS, GRADIENTS, INPUT, INPUT_PIPELINE, ACTIVATION_CALLS, ACTIVATIONS, MEMORY, TRACES, MEMORY_PROFILES, GPU_DEVICES,
        GPU_MEMORY, ENVIRONMENT, NONFINITE, NONFINITE_STEPS, LOSS_SCALE, EPOCHS, CALLBACKS, EAGER, STATEFUL,
    )
}


def summary_metadata(family: Family) -> summary_pb2.SummaryMetadata:
    """Returns the metadata that marks a summary as belonging to ``family``."""
    content = {"version": SCHEMA_VERSION, "family": family.name, "metrics": list(family.metrics)}
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(content).encode("utf-8")
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


# A part of a block family stays well below the data server's 256 MB message limit.
PART_BYTES = 64 * 2**20
PART_SEPARATOR = "/part"


def family_of_tag(tag: str) -> Family | None:
    """The family written under ``tag`` (any of its parts), or ``None`` for a foreign tag."""
    family = FAMILIES.get(tag)
    if family is not None:
        return family
    base, separator, part = tag.rpartition(PART_SEPARATOR)
    family = FAMILIES.get(base) if separator else None
    if family is None or family.kind == DOCUMENT or not part.isdigit() or part.startswith("0"):
        return None
    return family


def parse_plugin_content(tag: str, content: bytes) -> Family:
    """Checks a tag's stored plugin content against the schema and returns its family.

    Raises:
      SchemaError: the tag is unknown, the content is not our JSON, or it was written by a
        different schema version or with a different metric order.
    """
    family = family_of_tag(tag)
    if family is None:
        raise SchemaError(f"unknown tag {tag!r}")
    if len(content) > MAX_JSON_BYTES:
        raise SchemaError(f"metadata of {tag!r} is {len(content)} bytes, more than any tb_diag writes")
    try:
        parsed = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SchemaError(f"metadata of {tag!r} is not tb_diag JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise SchemaError(f"metadata of {tag!r} is not a JSON object")
    version = parsed.get("version")
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{tag!r} was written with schema version {version!r}; this tb_diag reads version "
            f"{SCHEMA_VERSION} (upgrade tb-diag to read newer logs)"
        )
    if parsed.get("metrics") != list(family.metrics):
        raise SchemaError(f"{tag!r} has metrics {parsed.get('metrics')!r}, expected {list(family.metrics)}")
    return family


def encode_document(document: dict) -> summary_pb2.TensorProto:
    """Encodes a JSON object (a document family's value) as a scalar string tensor."""
    return tensor_util.make_tensor_proto(np.array(json.dumps(document).encode("utf-8"), dtype=object))


def decode_document(family: Family, value: np.ndarray) -> dict:
    """Decodes a document family's stored value into the JSON object.

    Raises:
      SchemaError: the value is not a string holding a JSON object of at most ``MAX_JSON_BYTES``.
    """
    if value.shape != () or value.dtype != object or not isinstance(value.item(), bytes):
        raise SchemaError(f"{family.name} has shape {value.shape} and dtype {value.dtype}, expected a string")
    raw = value.item()
    if len(raw) > MAX_JSON_BYTES:
        raise SchemaError(f"{family.name} is {len(raw)} bytes, more than any tb_diag writes")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SchemaError(f"{family.name} is not tb_diag JSON: {error}") from None
    if not isinstance(document, dict):
        raise SchemaError(f"{family.name} is not a JSON object")
    return document


def encode_layers(layer_paths: list[str]) -> summary_pb2.TensorProto:
    """Encodes a run's layer list as a scalar string tensor."""
    return encode_document({"layers": list(layer_paths)})


def decode_layers(value: np.ndarray, family: Family = LAYERS) -> list[str]:
    """Decodes a row list: the ``tb_diag/layers`` tag (or another row document's ``layers`` key).

    Raises:
      SchemaError: the value is not a JSON document with a list of strings under ``layers``.
    """
    layers = decode_document(family, value).get("layers")
    if not isinstance(layers, list) or not all(isinstance(name, str) for name in layers):
        raise SchemaError("layer list is not a list of strings")
    return layers


def block_rank(family: Family) -> int:
    """The rank of the family's blocks: 3 per layer, 2 per step."""
    return 3 if family.kind == PER_LAYER else 2


def encode_block(family: Family, values: np.ndarray) -> summary_pb2.TensorProto:
    """Encodes a block: ``[steps, layers, metrics]`` per layer, ``[steps, metrics]`` per step."""
    values = np.asarray(values, dtype=np.float32)
    if family.kind == DOCUMENT or values.ndim != block_rank(family) or values.shape[-1] != len(family.metrics):
        raise ValueError(f"{family.name} block has shape {values.shape}; expected [steps, ..., {len(family.metrics)}]")
    return tensor_util.make_tensor_proto(values)


def decode_step_block(family: Family, value: np.ndarray) -> np.ndarray:
    """Validates a stored per-step block and returns it as float64 ``[steps, metrics]``.

    Raises:
      SchemaError: wrong rank, dtype or metric axis, or no steps.
    """
    if value.ndim != 2 or not np.issubdtype(value.dtype, np.floating):
        raise SchemaError(f"{family.name} block has shape {value.shape} and dtype {value.dtype}")
    if value.shape[0] == 0 or value.shape[1] != len(family.metrics):
        raise SchemaError(f"{family.name} block has shape {value.shape}; expected [steps, {len(family.metrics)}]")
    return value.astype(np.float64)


def decode_block(family: Family, value: np.ndarray, layer_count: int) -> np.ndarray:
    """Validates a stored per-layer block and returns it as float32 ``[steps, layers, metrics]``
    (the precision it was recorded in; half the memory of float64 on long runs).

    Raises:
      SchemaError: wrong rank, dtype, or a layer/metric axis that does not fit the run's layer list.
    """
    if value.ndim != 3 or not np.issubdtype(value.dtype, np.floating):
        raise SchemaError(f"{family.name} block has shape {value.shape} and dtype {value.dtype}")
    if value.shape[0] == 0:
        raise SchemaError(f"{family.name} block holds no steps")
    if value.shape[1] != layer_count or value.shape[2] != len(family.metrics):
        raise SchemaError(
            f"{family.name} block has shape {value.shape}; the run has {layer_count} layers and "
            f"{len(family.metrics)} metrics"
        )
    return value.astype(np.float32, copy=False)
