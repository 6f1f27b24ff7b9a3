"""The front page (issue 29): the README stays short, shows the app and the loop, defines
its words, and every link in it and in docs/ leads somewhere; `make help` is aligned."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target), not inside inline code or a fenced block.
LINK = re.compile(r"!?\[(?:[^\]`]|`[^`]*`)*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code (links there are not links)."""
    text = re.sub(r"(?ms)^```.*?^```", "", text)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in _prose_keep_headings(page.read_text(encoding="utf-8")):
        match = re.match(r"#{1,6} (.+)", line)
        if not match:
            continue
        slug = _slug(match.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _prose_keep_headings(text: str) -> list[str]:
    return re.sub(r"(?ms)^```.*?^```", "", text).splitlines()


def _links(page: Path) -> list[str]:
    return LINK.findall(_prose(page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_resolves(page: Path) -> None:
    """A relative link names a file or folder of the repository, and an anchor names a
    heading of its page. Links to the web are https (not fetched: the tests run offline)."""
    broken = []
    for target in _links(page):
        if re.match(r"[a-z]+:", target):
            if not target.startswith(("https://", "mailto:")):
                broken.append(f"{target}: not https")
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, broken


def test_nothing_links_to_a_readme_section_that_moved() -> None:
    anchors = _anchors(README)
    for page in [*PAGES, ROOT / "pyproject.toml"]:
        for anchor in re.findall(r"README\.md#([\w-]+)", page.read_text(encoding="utf-8")):
            assert anchor in anchors, f"{page.name} links to README.md#{anchor}"


def test_the_readme_is_a_front_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    # The loop as a Mermaid diagram, with every station of the loop.
    diagram = re.search(r"(?ms)^```mermaid\n(.*?)^```", text).group(1).lower()
    for station in ("notebook", "pull request", "ci report", "merge", "cd", "space",
                    "monitor", "rollback"):
        assert station in diagram, station
    # A screenshot that the browser test writes, so it stays current.
    shots = re.findall(r"!\[[^\]]*\]\((docs/screenshots/([\w-]+)\.png)\)", text)
    assert shots
    browser_test = (ROOT / "tests" / "test_app_browser.py").read_text(encoding="utf-8")
    for path, name in shots:
        assert (ROOT / path).is_file()
        assert f'"{name}"' in browser_test, f"{name}.png is not made by the browser test"
    # The two commands, the operator token, the Codespaces button, the glossary.
    assert "make pipeline" in text and "make test" in text
    assert "MLOPS_ADMIN_TOKEN" in text
    assert "https://codespaces.new/" in text
    assert "(docs/glossary.md)" in text


def test_every_glossary_link_in_the_readme_names_an_entry() -> None:
    entries = _anchors(ROOT / "docs" / "glossary.md")
    used = re.findall(r"docs/glossary\.md#([\w-]+)", README.read_text(encoding="utf-8"))
    assert len(used) >= 15
    assert set(used) <= entries, set(used) - entries


def test_the_glossary_defines_the_words_the_issue_named() -> None:
    entries = _anchors(ROOT / "docs" / "glossary.md")
    for word in ("alias", "candidate", "production", "compare-and-swap", "cbpe", "cml",
                 "nbval", "papermill", "skops", "onnx-twin", "canary", "shadow",
                 "blue-green", "gate", "ledger", "space"):
        assert word in entries, word


def test_make_help_is_aligned_and_lists_lab() -> None:
    out = subprocess.run(["make", "-s", "--no-print-directory", "help", "HELP_WIDTH=100"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    names = [line.split()[0] for line in lines if not line.startswith("    ")]
    assert {"lab", "app", "pipeline", "test"} <= set(names)
    column = {len(line) - len(line.lstrip(" ").split(" ", 1)[1].lstrip(" "))
              for line in lines if not line.startswith("    ")}
    wrapped = {len(line) - len(line.lstrip(" ")) for line in lines if line.startswith("    ")}
    assert len(column) == 1 and wrapped <= column, (column, wrapped)
    assert max(len(line) for line in lines) <= 100
    assert not any(line.endswith(" ") for line in lines)
