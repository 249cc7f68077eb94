"""Every relative link and every repository path that README.md and docs/*.md name exists (CI runs this).

A link is ``[text](target)`` or ``![alt](target)`` whose target is not a URL; it is resolved against the page's own
folder, and an anchor (``page.md#section``, ``#section``) must be a heading of that page (GitHub's slugs). A path is an inline-code span (between backticks) that names a file or folder of the
repository: it starts with one of the top-level folders (``ssgen/``, ``conf/``, ``docs/``, ``tests/``, ``tools/``,
``benchmarks/``) or is one of the top-level files, holds no placeholder (``<run dir>``, ``*``, ``$``), and is
resolved against the repository root; so is a file path in the prose (``tests/unit/test_api.py``: a top-level folder,
then a name with a file suffix). ``outputs/`` paths are what commands write, so they are not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_FOLDERS = ("ssgen/", "conf/", "docs/", "tests/", "tools/", "benchmarks/")
TOP_FILES = ("README.md", "pyproject.toml", "LICENSE", "CITATION.cff", ".ci/run")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"`([^`\n]+)`")
PROSE_PATH = re.compile(r"(?<![\w/.<-])(?:ssgen|conf|docs|tests|tools|benchmarks)/[\w./-]*\.(?:py|md|yaml|png|json|csv|npz)\b")


def pages(root: Path = ROOT) -> list[Path]:
    """README.md and every markdown page under docs/ (the records' own pages included)."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def slugs(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", re.sub(r"```.*?```", "", page.read_text(), flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def dead_references(page: Path, root: Path = ROOT) -> list[str]:
    """``'<page>: <target>'`` for each link, anchor or repository path of ``page`` that does not exist."""
    text = page.read_text()
    dead = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # a URL (https:, mailto:)
        path, _, anchor = target.partition("#")
        linked = page.parent / path if path else page
        if not linked.exists():
            dead.append(f"{page.relative_to(root)}: link {target}")
        elif anchor and linked.suffix == ".md" and anchor not in slugs(linked):
            dead.append(f"{page.relative_to(root)}: anchor {target}")
    for span in CODE.findall(text):
        for word in span.split():
            word = word.strip(".,;:()'\"")
            if not (word.startswith(TOP_FOLDERS) or word in TOP_FILES):
                continue
            if re.search(r"[<>*$={}\[\]|]", word) or "..." in word:
                continue  # a placeholder, a glob or a command's argument, not a path
            if not (root / word).exists():
                dead.append(f"{page.relative_to(root)}: path {word}")
    prose = re.sub(r"```.*?```", " ", text, flags=re.S)  # code blocks show files a reader writes (docs/extending.md)
    for word in PROSE_PATH.findall(CODE.sub(" ", LINK.sub(" ", prose))):
        if not (root / word).exists():
            dead.append(f"{page.relative_to(root)}: path {word}")
    return dead


def test_every_link_and_path_in_the_readme_and_docs_exists():
    dead = [line for page in pages() for line in dead_references(page)]
    assert not dead, "dead references:\n" + "\n".join(dead)


def test_the_check_sees_a_dead_link_and_a_dead_path(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "ssgen").mkdir()
    (tmp_path / "ssgen" / "there.py").write_text("")
    page = tmp_path / "docs" / "page.md"
    page.write_text("# The top\n[ok](../ssgen/there.py) [gone](gone.md) [web](https://example.org) [top](#the-top) "
                    "[nowhere](#no-such-section)\n"
                    "`ssgen/there.py` `ssgen/gone.py` `ssgen-train run=<run dir>` `outputs/x` `tests/*.py`\n")
    assert dead_references(page, tmp_path) == ["docs/page.md: link gone.md", "docs/page.md: anchor #no-such-section",
                                               "docs/page.md: path ssgen/gone.py"]


DOCS_PATH = re.compile(r"(?<![\w/.])(?:docs|README)(?:/[\w.\-]+)*\.md\b")


def test_every_page_the_code_and_configs_point_to_exists():
    """Docstrings, comments, messages and YAML comments that send a reader to a page (``docs/gans.md``) name one
    that exists: a page that moves takes its pointers along."""
    sources = [*sorted((ROOT / "ssgen").rglob("*.py")), *sorted((ROOT / "conf").rglob("*.yaml")),
               *sorted((ROOT / "tools").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py")),
               *sorted((ROOT / "tests").rglob("*.py"))]
    dead = [f"{source.relative_to(ROOT)}: {path}" for source in sources for path in DOCS_PATH.findall(source.read_text())
            if "<" not in path and not (ROOT / path).exists() and source != Path(__file__).resolve()]
    assert not dead, "pointers to pages that do not exist:\n" + "\n".join(dead)
