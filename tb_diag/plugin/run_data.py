"""Reads one run's tb_diag data through TensorBoard's data provider and decodes it."""

from __future__ import annotations

import bisect
import dataclasses
import math
import threading
from typing import Any, Callable, TypeVar

import numpy as np
from tensorboard import context as context_lib
from tensorboard.backend.event_processing import data_provider as data_provider_lib
from tensorboard.backend.event_processing import event_accumulator, plugin_event_multiplexer
from tensorboard.data import provider as provider_lib

from tb_diag import schema

# Ask the provider for every stored event; sampling is decided at ingestion (samples_per_plugin).
_ALL_EVENTS = 10**9

T = TypeVar("T")



def finite_number(value: object) -> float | None:
    """A number from a document of the log (untrusted JSON) as a float, or ``None`` for anything
    else: missing, a string, a bool, NaN or an infinity."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None

@dataclasses.dataclass
class FamilyBlocks:
    """A family's stored blocks, each aligned to the run's layer list.

    Attributes:
      steps: int64 ``[S]`` sorted training steps.
      values: float32 ``[S, layers, metrics]``; NaN where a layer did not exist at that step.
        Per-step families (``schema.PER_STEP``): float64 ``[S, metrics]``.
      present: bool ``[S, layers]``: the layer existed at that step (so a NaN there is real).
        Per-step families: ``[S]``, all true.
      rows: names of the layer axis (per-layer families; e.g. the run's layers, or layer calls).
    """

    steps: np.ndarray
    values: np.ndarray
    present: np.ndarray
    rows: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class RunData:
    """Everything recorded for one run, decoded.

    Attributes:
      run: the run's name as TensorBoard shows it (e.g. ``"healthy/train"``).
      layers: layer paths in model order (union over all fits written to this run).
      last_step: the last training step with data.
      families: decoded blocks by family name (``"gradients"`` ...).
      warnings: what was skipped and why, in words for the user.
      documents: per document family name, ``(step, JSON object)`` pairs in step order.
    """

    run: str
    layers: list[str]
    last_step: int
    families: dict[str, FamilyBlocks]
    warnings: list[str]
    documents: dict[str, list[tuple[int, dict]]] = dataclasses.field(default_factory=dict)
    # Values derived from this data (series, findings, the report), computed once: see ``derived``.
    cache: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    cache_lock: threading.RLock = dataclasses.field(default_factory=threading.RLock, repr=False, compare=False)

    def document_at(self, family_name: str, step: int | None = None) -> dict | None:
        """The newest document of ``family_name`` written at or before ``step`` (default: the last)."""
        chosen = None
        for written_at, document in self.documents.get(family_name, []):
            if step is None or written_at <= step:
                chosen = document
        return chosen


def derived(run: RunData, key: str, compute: Callable[[], T]) -> T:
    """``compute()``, once per decoded run: a run's data never changes (new data is a new
    ``RunData``), so its findings, report and series are kept with it. Threads asking for the
    same run's values take turns (a long run's temporaries are then held once, not per request)."""
    with run.cache_lock:
        if key not in run.cache:
            run.cache[key] = compute()
        return run.cache[key]


def list_runs(provider: Any, ctx: Any, experiment_id: str) -> dict[str, list[str]]:
    """Returns ``{run: [family names]}`` for runs with tb_diag data, runs sorted by name."""
    listing = provider.list_tensors(ctx, experiment_id=experiment_id, plugin_name=schema.PLUGIN_NAME)
    runs = {}
    for run in sorted(listing):
        known = [schema.family_of_tag(tag) for tag in listing[run]]
        families = sorted({family.name for family in known if family is not None and family.is_listed})
        if families:
            runs[run] = families
    return runs


def run_listing(provider: Any, ctx: Any, experiment_id: str, run: str) -> dict[str, Any]:
    """``{tag: TensorTimeSeries}`` of the run's tb_diag tags (empty if it has none)."""
    return provider.list_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=schema.PLUGIN_NAME,
        run_tag_filter=provider_lib.RunTagFilter(runs=[run]),
    ).get(run, {})


def load_run(provider: Any, ctx: Any, experiment_id: str, run: str, listing: dict[str, Any] | None = None) -> RunData | None:
    """Reads and decodes ``run``; returns ``None`` if the run has no tb_diag data.

    ``listing`` is the run's ``run_listing`` if the caller already has it. Corrupt, foreign or
    newer-schema data is skipped with a message in ``warnings``; the rest of the run is still
    returned.
    """
    if listing is None:
        listing = run_listing(provider, ctx, experiment_id, run)
    if not listing:
        return None
    warnings: list[str] = []
    tags_of: dict[str, list[str]] = {}  # family name -> its tags (parts)
    families: dict[str, schema.Family] = {}
    for tag, series in listing.items():
        try:
            family = schema.parse_plugin_content(tag, series.plugin_content)
        except schema.SchemaError as error:
            warnings.append(f"skipped tag {tag!r}: {error}")
            continue
        families[family.name] = family
        tags_of.setdefault(family.name, []).append(tag)
    events = {name: _read_events(provider, ctx, experiment_id, run, tags) for name, tags in tags_of.items()}
    timelines = {
        family.name: _LayerTimeline(family, events.get(family.name, []), warnings)
        for family in schema.FAMILIES.values()
        if family.kind == schema.DOCUMENT and any(f.rows == family.name for f in families.values())
    }
    timeline = timelines.get(schema.LAYERS.name) or _LayerTimeline(schema.LAYERS, [], warnings)
    decoded = {}
    documents = {}
    for name, family in families.items():
        if family.kind == schema.PER_LAYER:
            decoded[name] = _decode_family(family, events[name], timelines[family.rows], warnings)
        elif family.kind == schema.PER_STEP:
            decoded[name] = _decode_step_family(family, events[name], warnings)
        elif family is not schema.LAYERS:
            documents[name] = _decode_documents(family, events[name], warnings)
    last_step = max((int(blocks.steps[-1]) for blocks in decoded.values() if blocks.steps.size), default=0)
    return RunData(
        run=run, layers=timeline.all_layers, last_step=last_step, families=decoded, warnings=warnings, documents=documents
    )


def _read_events(provider: Any, ctx: Any, experiment_id: str, run: str, tags: list[str]) -> list[Any]:
    """Every event of one family, from all its tags, in the order they were written.

    One request per tag: TensorBoard's data server sends a request's answer as one message of at
    most 256 MB, which is why a long run's blocks are spread over several tags (``Family.part_tag``).
    Events are ordered by wall time (stable, so the file order breaks ties): a later write of
    the same step, e.g. by a refit from an earlier checkpoint, comes later.
    """
    events: list[Any] = []
    for tag in tags:
        events += provider.read_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=schema.PLUGIN_NAME,
            downsample=_ALL_EVENTS,
            run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=[tag]),
        ).get(run, {}).get(tag, [])
    if len(tags) > 1:
        events.sort(key=lambda event: event.wall_time)
    return events


class _LayerTimeline:
    """The row lists (layers, layer calls) written at each fit's start, to align blocks written under each."""

    def __init__(self, family: schema.Family, events: list[Any], warnings: list[str]):
        self._starts: list[int] = []
        self._lists: list[list[str]] = []
        self.all_layers: list[str] = []
        self._index: dict[str, int] = {}
        what = "layer list" if family is schema.LAYERS else f"{family.name} list"
        for event in sorted(events, key=lambda e: e.step):
            try:
                layers = schema.decode_layers(event.numpy, family)
            except schema.SchemaError as error:
                warnings.append(f"skipped the {what} at step {event.step}: {error}")
                continue
            self._starts.append(event.step)
            self._lists.append(layers)
            for name in layers:
                if name not in self._index:
                    self._index[name] = len(self.all_layers)
                    self.all_layers.append(name)
        if len(self._lists) > 1 and any(layers != self._lists[0] for layers in self._lists):
            rows = "layers" if family is schema.LAYERS else family.name.replace("_", " ")
            warnings.append(f"the model's {rows} changed between fits; steps show NaN for those that did not exist")

    def layers_for_block(self, first_step: int) -> list[str] | None:
        """The layer list in effect for a block starting at ``first_step`` (written before it)."""
        position = bisect.bisect_left(self._starts, first_step) - 1
        return self._lists[position] if position >= 0 else None

    def columns(self, layers: list[str]) -> list[int]:
        """Where each of ``layers`` sits in ``all_layers``."""
        return [self._index[name] for name in layers]


def _decode_family(family: schema.Family, events: list[Any], timeline: _LayerTimeline, warnings: list[str]) -> FamilyBlocks:
    width = len(timeline.all_layers)
    metrics = len(family.metrics)
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (steps, columns, values), in write order
    for event in events:
        try:
            value = np.asarray(event.numpy)
            if value.ndim != 3:
                raise schema.SchemaError(f"{family.name} block has shape {value.shape}")
            first_step = event.step - value.shape[0] + 1
            layers = timeline.layers_for_block(first_step)
            if layers is None:
                raise schema.SchemaError("no layer list was written before it")
            block = schema.decode_block(family, value, len(layers))
        except schema.SchemaError as error:
            warnings.append(f"skipped a {family.name} block at step {event.step}: {error}")
            continue
        blocks.append((np.arange(first_step, first_step + block.shape[0]), np.asarray(timeline.columns(layers), dtype=np.intp), block))
    if not blocks:
        empty = np.zeros(0, dtype=np.int64)
        return FamilyBlocks(empty, np.zeros((0, width, metrics), np.float32), np.zeros((0, width), dtype=bool), list(timeline.all_layers))
    steps = np.unique(np.concatenate([block_steps for block_steps, _, _ in blocks])).astype(np.int64)
    # One float32 array filled block by block: a long run (100 000 steps x 1000 layers) never
    # exists as per-step rows or as float64.
    values = np.full((steps.size, width, metrics), np.nan, dtype=np.float32)
    present = np.zeros((steps.size, width), dtype=bool)
    for block_steps, columns, block in blocks:
        rows = np.searchsorted(steps, block_steps)
        # A later write of the same step (a refit from an earlier checkpoint) wins, whole row.
        values[rows] = np.nan
        present[rows] = False
        if columns.size == width and np.array_equal(columns, np.arange(width)):
            values[rows] = block
        else:
            values[rows[:, None], columns[None, :]] = block
        present[rows[:, None], columns[None, :]] = True
    return FamilyBlocks(steps=steps, values=values, present=present, rows=list(timeline.all_layers))


def _decode_step_family(family: schema.Family, events: list[Any], warnings: list[str]) -> FamilyBlocks:
    by_step: dict[int, np.ndarray] = {}
    for event in events:
        try:
            block = schema.decode_step_block(family, np.asarray(event.numpy))
        except schema.SchemaError as error:
            warnings.append(f"skipped a {family.name} block at step {event.step}: {error}")
            continue
        first_step = event.step - block.shape[0] + 1
        for offset, row in enumerate(block):
            by_step[first_step + offset] = row
    steps = np.array(sorted(by_step), dtype=np.int64)
    values = np.stack([by_step[s] for s in steps]) if by_step else np.zeros((0, len(family.metrics)))
    return FamilyBlocks(steps=steps, values=values, present=np.ones(steps.shape, dtype=bool))


def _decode_documents(family: schema.Family, events: list[Any], warnings: list[str]) -> list[tuple[int, dict]]:
    documents = []
    for event in sorted(events, key=lambda e: e.step):
        try:
            documents.append((int(event.step), schema.decode_document(family, np.asarray(event.numpy))))
        except schema.SchemaError as error:
            warnings.append(f"skipped the {family.name} document at step {event.step}: {error}")
    return documents


def open_logdir(logdir: str) -> data_provider_lib.MultiplexerDataProvider:
    """A data provider over ``logdir`` loaded the way TensorBoard's Python loader does (same run names)."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance={event_accumulator.TENSORS: 0}, tensor_size_guidance={schema.PLUGIN_NAME: 0}
    )
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return data_provider_lib.MultiplexerDataProvider(multiplexer, logdir)


def load_logdir(logdir: str) -> list[RunData]:
    """Reads every run under ``logdir`` without a server."""
    provider = open_logdir(logdir)
    ctx = context_lib.RequestContext()
    runs = [load_run(provider, ctx, "", run) for run in list_runs(provider, ctx, "")]
    return [run for run in runs if run is not None]


class RunCache:
    """Decoded runs, reused until TensorBoard has new data for the run.

    The tab asks for the same run several times per view (run list, report, panel data); decoding
    it again each time would redo the same work. An entry is valid while every tb_diag tag of the
    run keeps the same last step and wall time in the data provider's listing.
    """

    def __init__(self, provider: Any):
        self._provider = provider
        self._entries: dict[tuple[str, str], tuple[tuple, RunData | None]] = {}
        self._lock = threading.Lock()
        # One decode at a time per run: a request arriving while the warmer (or another request)
        # decodes the same run waits for that decode instead of holding a second copy in memory.
        self._run_locks: dict[tuple[str, str], threading.Lock] = {}

    def get(self, ctx: Any, experiment_id: str, run: str) -> RunData | None:
        """The decoded run (``None`` if it has no tb_diag data), decoding only when it changed."""
        key = (experiment_id, run)
        with self._lock:
            run_lock = self._run_locks.setdefault(key, threading.Lock())
        with run_lock:
            listing = run_listing(self._provider, ctx, experiment_id, run)
            version = tuple(sorted((tag, series.max_step, series.max_wall_time) for tag, series in listing.items()))
            cached = self._entries.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
            # Drop the old decode first: a long run's old and new data never both stay in memory.
            self._entries.pop(key, None)
            data = load_run(self._provider, ctx, experiment_id, run, listing)
            self._entries[key] = (version, data)
            return data
