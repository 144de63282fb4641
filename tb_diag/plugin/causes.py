"""Root cause first: which findings of a run follow from an earlier one.

Rules find symptoms independently; several of them often describe one problem. A deep stack of
sigmoid layers (the model check) makes gradients vanish; a learning rate too high (the update ratio says so) makes gradients and activations explode; a gradient
explosion ends in NaN; once the weights hold NaN/Inf, every later statistic (dead units,
saturation, activation explosions, another NaN) is computed from broken weights. ``attribute``
marks such findings as consequences (``Finding.caused_by`` = the id of the root finding) so the
report, the Overview and the CLI lead with the cause, list its consequences under it, and
``tb-diag check`` counts root causes only.

Chains are flattened: a consequence always names a root (a finding that is not itself a
consequence), so nothing nests more than one level deep.
"""

from __future__ import annotations

import dataclasses

from tb_diag.plugin.diagnostics.gradients import NONFINITE_TITLE as NONFINITE_GRADIENTS_TITLE
from tb_diag.plugin.findings import SEVERITY_ORDER, Finding, sort_findings

# The finding that says where training first produced NaN/Inf, and the growth finding that says
# the global gradient norm exploded before it.
NONFINITE_ID = "nonfinite"
EXPLODING_ID = "exploding_gradients"
# Update ratios far above the usual: the cause of explosions that start at or after it.
LR_TOO_HIGH_ID = "learning_rate_too_high"
EXPLOSION_IDS = (EXPLODING_ID, "activation_explosion")
# Model-check findings (read before any step) and the symptom each explains when both are found.
EXPLAINED_BY_SETUP = {"vanishing_gradients": "deep_saturating_stack"}


def attribute(findings: list[Finding]) -> list[Finding]:
    """``findings`` with ``caused_by`` set on the ones that follow from another, in report order:
    each root, worst first, followed by its consequences (by step). A root is at least as severe as
    its worst consequence (the cause of an error is an error)."""
    by_id = {finding.id: finding for finding in findings}
    nonfinite = by_id.get(NONFINITE_ID)
    exploding = by_id.get(EXPLODING_ID)
    learning_rate = by_id.get(LR_TOO_HIGH_ID)
    parent: dict[int, Finding] = {}  # id(finding) -> the finding it directly follows from
    first_bad_step = _first_nonfinite_step(nonfinite, exploding)
    if first_bad_step is not None:
        # The NaN/Inf event follows from an explosion that started before it; everything from the
        # first non-finite step on follows from the event (or, without one, from the explosion).
        bad = nonfinite or exploding
        if nonfinite is not None and exploding is not None and exploding.step is not None and exploding.step < first_bad_step:
            parent[id(nonfinite)] = exploding
        for finding in findings:
            if finding is not bad and id(finding) not in parent and finding.step is not None and finding.step >= first_bad_step:
                parent[id(finding)] = bad
    if learning_rate is not None and learning_rate.step is not None:
        # Explosions from the first step whose updates were too large follow from the learning rate.
        for finding in findings:
            if finding.id in EXPLOSION_IDS and finding.step is not None and finding.step >= learning_rate.step:
                if id(finding) not in parent or parent[id(finding)].id not in EXPLOSION_IDS + (LR_TOO_HIGH_ID,):
                    parent[id(finding)] = learning_rate

    for finding in findings:
        cause = by_id.get(EXPLAINED_BY_SETUP.get(finding.id, ""))
        if cause is not None and id(finding) not in parent:
            parent[id(finding)] = cause

    def root_of(finding: Finding) -> Finding:
        seen = {id(finding)}
        while id(finding) in parent and id(parent[id(finding)]) not in seen:
            finding = parent[id(finding)]
            seen.add(id(finding))
        return finding

    roots = {id(finding): root_of(finding) for finding in findings}
    worst: dict[int, str] = {}
    for finding in findings:
        root = roots[id(finding)]
        current = worst.get(id(root), root.severity)
        worst[id(root)] = finding.severity if SEVERITY_ORDER[finding.severity] < SEVERITY_ORDER[current] else current
    marked = []
    for finding in findings:
        root = roots[id(finding)]
        if root is finding:
            marked.append(dataclasses.replace(finding, severity=worst[id(finding)]))
        else:
            marked.append(dataclasses.replace(finding, caused_by=root.id))
    return ordered(marked)


def _first_nonfinite_step(nonfinite: Finding | None, exploding: Finding | None) -> int | None:
    """The first step whose numbers went non-finite, from the NaN/Inf event or, without one, the
    gradient finding that reports a non-finite norm."""
    if nonfinite is not None and nonfinite.step is not None:
        return nonfinite.step
    if exploding is not None and exploding.step is not None and exploding.title == NONFINITE_GRADIENTS_TITLE:
        return exploding.step
    return None


def ordered(findings: list[Finding]) -> list[Finding]:
    """Roots worst first (``sort_findings``), each followed by its consequences in step order."""
    roots = sort_findings([finding for finding in findings if finding.caused_by is None])
    result = []
    for root in roots:
        result.append(root)
        result += sort_by_step([finding for finding in findings if finding.caused_by == root.id])
    known = {finding.id for finding in roots}
    # A consequence whose cause is not in the list (cannot happen via ``attribute``) stays visible.
    result += sort_by_step([finding for finding in findings if finding.caused_by is not None and finding.caused_by not in known])
    return result


def sort_by_step(findings: list[Finding]) -> list[Finding]:
    """By step (findings without one last), then id."""
    return sorted(findings, key=lambda f: (f.step is None, f.step if f.step is not None else 0, f.id))


def root_causes(findings: list[Finding]) -> list[Finding]:
    """The findings that are not a consequence of another one."""
    return [finding for finding in findings if finding.caused_by is None]
