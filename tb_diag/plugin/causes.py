"""Root cause first: which findings of a run follow from an earlier one.

Rules find symptoms independently; several of them often describe one problem. A gradient
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

from tb_diag.plugin.findings import Finding, sort_findings

# The finding that says where training first produced NaN/Inf, and the growth finding that says
# the global gradient norm exploded before it.
NONFINITE_ID = "nonfinite"
EXPLODING_ID = "exploding_gradients"


def attribute(findings: list[Finding]) -> list[Finding]:
    """``findings`` with ``caused_by`` set on the ones that follow from another, in report order:
    each root, worst first, followed by its consequences (by step)."""
    by_id = {finding.id: finding for finding in findings}
    nonfinite = by_id.get(NONFINITE_ID)
    exploding = by_id.get(EXPLODING_ID)
    first_bad_step = _first_nonfinite_step(nonfinite, exploding)
    causes: dict[int, str] = {}
    if first_bad_step is not None:
        # The root of everything from the first non-finite step on: the explosion that led to it,
        # if it started earlier, else the NaN/Inf event itself.
        root = nonfinite or exploding
        if nonfinite is not None and exploding is not None and exploding.step is not None and exploding.step < first_bad_step:
            root = exploding
            causes[id(nonfinite)] = exploding.id
        for finding in findings:
            if finding is root or id(finding) in causes or finding.step is None:
                continue
            if finding.step >= first_bad_step:
                causes[id(finding)] = root.id
    marked = [dataclasses.replace(finding, caused_by=causes[id(finding)]) if id(finding) in causes else finding for finding in findings]
    return ordered(marked)


def _first_nonfinite_step(nonfinite: Finding | None, exploding: Finding | None) -> int | None:
    """The first step whose numbers went non-finite, from the NaN/Inf event or, without one, the
    gradient finding that reports a non-finite norm."""
    if nonfinite is not None and nonfinite.step is not None:
        return nonfinite.step
    if exploding is not None and exploding.step is not None and exploding.title == NONFINITE_GRADIENTS_TITLE:
        return exploding.step
    return None


# The title ``gradients.exploding_gradients`` gives a non-finite gradient norm (not mere growth).
NONFINITE_GRADIENTS_TITLE = "Gradients became non-finite"


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
