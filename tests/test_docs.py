"""The README and docs/ stay navigable: every relative link and image points at a file that exists,
and every ``#anchor`` at a heading of its target (GitHub's heading ids)."""

from __future__ import annotations

import glob
import os
import re

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOCUMENTS = sorted(["README.md"] + [os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True)])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def heading_ids(markdown: str) -> set[str]:
    """The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces to
    dashes, a repeated heading numbered ``-1``, ``-2``."""
    ids: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", markdown), re.M):
        base = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, n = base, 0
        while anchor in ids:
            n += 1
            anchor = f"{base}-{n}"
        ids.add(anchor)
    return ids


def links(markdown: str) -> list[str]:
    return [target for target in LINK.findall(FENCE.sub("", markdown)) if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_relative_link_and_anchor_resolves(document):
    text = open(os.path.join(REPO, document)).read()
    broken = []
    for target in links(text):
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(REPO, os.path.dirname(document), path)) if path else os.path.join(REPO, document)
        if not os.path.exists(resolved):
            broken.append(f"{target}: no such file")
        elif anchor and (not resolved.endswith(".md") or anchor not in heading_ids(open(resolved).read())):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, f"{document}: " + "; ".join(broken)


def test_the_readme_is_a_front_door_that_links_every_diagnostic_page():
    readme = open(os.path.join(REPO, "README.md")).read()
    pages = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "diagnostics", "*.md")))
    assert pages and all(page in links(readme) for page in pages)
    assert len(readme.splitlines()) <= 170  # about 150 lines; the specification lives in docs/


def test_the_anchor_rules_match_githubs():
    assert heading_ids("# Under `tf.distribute`: per replica or aggregated\n## Overhead\n## Overhead") == {
        "under-tfdistribute-per-replica-or-aggregated", "overhead", "overhead-1",
    }
