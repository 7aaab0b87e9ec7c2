"""The README is the entry point and stays short; every relative link and image in it and in docs/ resolves to
a file of the repository, and every #fragment to a heading of that file (as GitHub renders headings)."""

from __future__ import annotations

import re
from functools import cache
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

from tests.support.project import REPO_ROOT

README_LIMIT = 15_000
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
PARSER = MarkdownIt("commonmark").enable("table")


def tokens_of(page: Path):
    """Every inline token of the page, children included, outside code."""
    for block in PARSER.parse(page.read_text(encoding="utf-8")):
        yield block
        yield from block.children or ()


def link_targets(page: Path) -> list[str]:
    targets = []
    for token in tokens_of(page):
        if token.type == "link_open":
            targets.append(token.attrs["href"])
        elif token.type == "image":
            targets.append(token.attrs["src"])
    return targets


def github_slug(heading: str, seen: dict[str, int]) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


@cache
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    blocks = PARSER.parse(page.read_text(encoding="utf-8"))
    for opening, inline in pairwise(blocks):
        if opening.type == "heading_open":
            found.add(github_slug(inline.content.replace("`", ""), seen))
    return frozenset(found)


def test_readme_is_short_enough_to_be_an_entry_point():
    size = len((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert size <= README_LIMIT, f"README.md has {size} characters; move depth to docs/"


def test_readme_links_every_docs_page():
    linked = {
        (REPO_ROOT / urlsplit(target).path).resolve()
        for target in link_targets(REPO_ROOT / "README.md")
        if not urlsplit(target).scheme
    }
    missing = [page.name for page in PAGES[1:] if page.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO_ROOT).as_posix())
def test_relative_links_resolve(page: Path):
    broken = []
    for target in link_targets(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # a web address; this machine cannot check it
        linked = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(REPO_ROOT)}")
        elif parts.fragment and linked.suffix == ".md" and parts.fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{parts.fragment} in {linked.name}")
    assert not broken, f"{page.name}: {broken}"


def test_every_picture_in_docs_img_is_shown_somewhere():
    shown = {
        (page.parent / urlsplit(target).path).resolve()
        for page in PAGES
        for target in link_targets(page)
        if not urlsplit(target).scheme
    }
    unused = [p.name for p in sorted((REPO_ROOT / "docs" / "img").iterdir()) if p.resolve() not in shown]
    assert not unused, f"docs/img holds pictures no page shows: {unused}"
