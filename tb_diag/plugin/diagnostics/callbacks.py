"""Callbacks, viewer side: which of the fit's other callbacks take a real share of every step."""

from __future__ import annotations

import dataclasses

from tb_diag import schema
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData, finite_number

FAMILY = schema.CALLBACKS

# A callback whose batch hooks take this share of the training loop's typical interval (from one
# execution to the next: step, input, every callback) slows training by about that much.
SLOW_CALLBACK_SHARE = 0.10
# ...and at least this much time per step: below it the step itself is so short that the fix is
# fewer callback calls (steps_per_execution), not the callback (Keras' TensorBoard callback costs
# ~0.3 ms per batch even with update_freq="epoch").
SLOW_CALLBACK_MIN_S = 1e-3
# Judged over at least this many timed executions.
MIN_EXECUTIONS = 5
SPE_ADVICE = "With short steps, compile(steps_per_execution=N) runs the callbacks once per N steps."

# What to lower, for the callbacks that have a frequency setting.
FREQUENCY_REMEDIES = {
    "TensorBoard": "Use TensorBoard(update_freq='epoch') or a larger integer update_freq (it writes every that many "
    "batches); Keras' TensorBoard still calls tf.summary.scalar for every log on every batch. " + SPE_ADVICE,
    "ModelCheckpoint": "Save less often: ModelCheckpoint(save_freq='epoch') or a larger integer save_freq.",
    "ProgbarLogger": "Use fit(verbose=2) (one line per epoch) or verbose=0 instead of the per-batch progress bar.",
    "BackupAndRestore": "Back up less often: BackupAndRestore(save_freq='epoch') or a larger integer save_freq.",
}
GENERIC_REMEDY = (
    "Do its work every N batches (e.g. `if batch % 100 == 0`) or in on_epoch_end instead of on every batch; "
    "avoid reading tensors back (.numpy(), float(...)) in batch hooks. " + SPE_ADVICE
)


@dataclasses.dataclass
class CallbackTime:
    """One callback's batch-hook time over the run, beside the training loop's typical interval.

    Attributes (execution-weighted over the flush windows): ``mean_s`` and ``median_s`` of its
    hooks per execution, ``loop_median_s`` the median time from one execution to the next.
    """

    name: str
    position: int
    executions: int = 0
    seconds: float = 0.0
    weighted_median_s: float = 0.0
    weighted_loop_s: float = 0.0
    slowest_s: float = 0.0
    first_step: int = 0

    @property
    def mean_s(self) -> float:
        return self.seconds / self.executions if self.executions else 0.0

    @property
    def share(self) -> float:
        """Its share of a typical loop interval once its own periodic work is spread over every
        execution: ``mean / (loop median - its median + mean)``."""
        if not self.executions:
            return 0.0
        typical = self.weighted_loop_s / self.executions - self.weighted_median_s / self.executions + self.mean_s
        return min(1.0, self.mean_s / typical) if typical > 0 else 0.0


def callback_times(run: RunData) -> list[CallbackTime]:
    """Every timed callback (by position and class name) over the run's documents; mistyped
    documents and entries are skipped."""
    totals: dict[tuple[int, str], CallbackTime] = {}
    for step, document in run.documents.get(FAMILY.name, []):
        if not isinstance(document, dict):
            continue
        loop_s, executions, entries = document.get("loop_median_s"), document.get("executions"), document.get("callbacks")
        if not _is_number(loop_s) or loop_s <= 0 or not isinstance(executions, int) or isinstance(executions, bool) or executions <= 0 or not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not _is_number(entry.get("seconds")) or not _is_number(entry.get("median_s")):
                continue
            position = entry.get("position") if isinstance(entry.get("position"), int) else -1
            total = totals.setdefault((position, entry["name"]), CallbackTime(entry["name"], position, first_step=int(step)))
            total.executions += executions
            total.seconds += max(0.0, float(entry["seconds"]))
            total.weighted_median_s += executions * max(0.0, float(entry["median_s"]))
            total.weighted_loop_s += executions * float(loop_s)
            slowest = entry.get("slowest_s")
            total.slowest_s = max(total.slowest_s, float(slowest) if _is_number(slowest) else 0.0)
    return sorted(totals.values(), key=lambda time: time.position)


def _is_number(value: object) -> bool:
    return finite_number(value) is not None


def summarize(run: RunData) -> dict | None:
    """``{"callbacks": [{"name", "position", "share", "ms_per_execution", "executions"}]}``, or ``None``."""
    times = callback_times(run)
    if not times:
        return None
    return {"callbacks": [
        {"name": t.name, "position": t.position, "share": t.share, "ms_per_execution": 1e3 * t.mean_s, "executions": t.executions}
        for t in times
    ]}


def find(run: RunData) -> list[Finding]:
    """``slow_callback``: see ``slow_callbacks``."""
    return slow_callbacks(callback_times(run))


def slow_callbacks(times: list[CallbackTime]) -> list[Finding]:
    """One warning per callback whose batch hooks take ``SLOW_CALLBACK_SHARE`` of the loop's time
    and ``SLOW_CALLBACK_MIN_S`` per step."""
    findings = []
    for time in times:
        if time.executions < MIN_EXECUTIONS or time.share < SLOW_CALLBACK_SHARE or time.mean_s < SLOW_CALLBACK_MIN_S:
            continue
        per_execution_ms = 1e3 * time.mean_s
        loop_ms = 1e3 * time.weighted_loop_s / time.executions
        findings.append(Finding(
            id="slow_callback",
            severity="warning",
            step=time.first_step,
            layer=None,
            title=f"The {time.name} callback takes {time.share:.0%} of every training step",
            detail=f"Its batch hooks (on_train_batch_begin/end) took {per_execution_ms:.3g} ms per step on average "
            f"(slowest {1e3 * time.slowest_s:.3g} ms) against a median of {loop_ms:.3g} ms from one step to the next, over "
            f"{time.executions} steps: training would run about {1 / max(1e-9, 1 - time.share):.2g}× faster without it.",
            remedy=FREQUENCY_REMEDIES.get(time.name, GENERIC_REMEDY),
        ))
    return findings


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """No panel of its own: the callbacks' shares are in the report (``summarize``)."""
    return None


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line: the callback taking the largest share of the loop, when one was timed."""
    if not summary:
        return None
    slowest = max(summary["callbacks"], key=lambda entry: entry["share"])
    return f"slowest callback: {slowest['name']} ({slowest['share']:.1%} of the loop, {slowest['ms_per_execution']:.3g} ms per step)"
