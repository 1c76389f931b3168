"""The docs agree with the code (issue 12, item 6): generated tables are current, every link and file reference
resolves, every configuration key, CLI option and notebook parameter is documented and nothing documented is gone,
and nothing points outside the repository.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import gen_docs
from tools.gen_docs import DOCS, ROOT

SKIP_DIRS = {".git", ".venv", ".venv-connector", "build", "out", "files", "__pycache__", ".pytest_cache",
             ".ruff_cache", ".mypy_cache", ".hypothesis", ".ipynb_checkpoints", "crash-reports", "node_modules"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".json", ".txt", ".ipynb", ".cfg"}
MD_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
# a path inside the repository named in prose, a docstring or a comment: docs/…, tests/…, accelo_kit/…, tools/…
FILE_REF = re.compile(r"(?<![\w./-])((?:docs|tests|accelo_kit|tools|notebooks|bench)/[\w./-]*\.(?:md|py|ipynb|json))\b")
# the documents that never were in the repository (spelled in pieces, so this file does not cite them itself)
OUTSIDE = [re.compile(p) for p in (r"\bcontract" + r"\.md", r"\bdesign" + r"\.md", r"team's work" + "space",
                                   r"\.\./shared", r"/work/" + "shared", r"\bshared/accelo")]
API_PAGE = re.compile(r"(?<![\w/])(?<!docs/)accelo-api" + r"\.md")


def _files() -> Iterator[Path]:
    stack = [ROOT]
    while stack:
        folder = stack.pop()
        for path in sorted(folder.iterdir()):
            if path.is_dir():
                if path.name not in SKIP_DIRS and not path.name.endswith(".egg-info"):
                    stack.append(path)
            elif path.suffix in TEXT_SUFFIXES or path.name == "Makefile":
                yield path


FILES = sorted(_files())
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *gen_docs.pages()]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def test_generated_blocks_are_current() -> None:
    stale = [_rel(p) for p in gen_docs.stale_pages()]
    assert not stale, f"generated tables differ from the code in {', '.join(stale)}: run make docs"


def test_every_generated_block_is_known() -> None:
    for page in gen_docs.pages():
        for match in gen_docs.BLOCK.finditer(page.read_text()):
            gen_docs.generator(match["name"])  # raises on an unknown block name


def test_markdown_links_resolve() -> None:
    broken = []
    for page in PAGES:
        for target in MD_LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            resolved = (page.parent / file).resolve() if file else page
            if not resolved.exists():
                broken.append(f"{_rel(page)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{_rel(page)}: {target} (no such heading)")
    assert not broken, "links that do not resolve:\n" + "\n".join(broken)


def test_file_references_resolve() -> None:
    """A path like tests/sync/test_sync.py named in code, tests or docs names a file that exists."""
    missing = []
    for path in FILES:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for ref in FILE_REF.findall(line):
                if not (ROOT / ref.rstrip(".")).exists():
                    missing.append(f"{_rel(path)}:{number}: {ref}")
    assert not missing, "file references that do not resolve:\n" + "\n".join(missing)


def test_nothing_points_outside_the_repository() -> None:
    found = []
    for path in FILES:
        in_docs = path.parent == DOCS
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            hits = [p.pattern for p in OUTSIDE if p.search(line)]
            if not in_docs and API_PAGE.search(line):
                hits.append("the API page without its folder (cite docs/accelo-api.md)")
            found += [f"{_rel(path)}:{number}: {hit}" for hit in hits]
    assert not found, "references to documents outside the repository (cite the docs/ pages):\n" + "\n".join(found)


def test_every_module_is_in_the_module_map() -> None:
    text = (DOCS / "architecture.md").read_text()
    block = next(m["body"] for m in gen_docs.BLOCK.finditer(text) if m["name"] == "module-map")
    mapped = set(re.findall(r"^\| `([\w.]+)` \|", block, re.M))
    modules = set(gen_docs.module_files())
    assert not modules - mapped, f"modules missing from the module map: {sorted(modules - mapped)}: run make docs"
    assert not mapped - modules, f"the module map lists modules that do not exist: {sorted(mapped - modules)}"


# -- configuration keys -------------------------------------------------------------------------------------------
def _settings_keys() -> set[str]:
    import dataclasses

    from accelo_kit.config import Settings

    return {f.name for f in dataclasses.fields(Settings)}


def _documented_keys() -> set[str]:
    """First-column names of the tables on the configuration page, and the keys of configuration.json examples."""
    keys = set(re.findall(r"^\| `(\w+)`", (DOCS / "configuration.md").read_text(), re.M))
    for page in PAGES:
        for block in re.findall(r"```json\n(.*?)```", page.read_text(), re.S):
            if '"client_id"' in block:
                keys |= set(json.loads(block))
    for example in ROOT.glob("configuration.example.json"):
        keys |= set(json.loads(example.read_text()))
    return keys


def test_every_configuration_key_is_documented() -> None:
    missing = _settings_keys() - _documented_keys()
    assert not missing, f"configuration keys missing from docs/configuration.md: {sorted(missing)}: run make docs"


def test_no_documented_configuration_key_is_gone() -> None:
    gone = _documented_keys() - _settings_keys()
    assert not gone, f"documented configuration keys that Settings does not have: {sorted(gone)}"


# -- CLI options ---------------------------------------------------------------------------------------------------
def _real_flags() -> set[tuple[str, str]]:
    return {(command, flag) for command, flag, _ in gen_docs.parser_flags()}


def _documented_flags() -> set[tuple[str, str]]:
    """Options in the CLI table, and in every `accelo-kit COMMAND ...` line of the pages."""
    commands = {command for command, _ in _real_flags()} | {"sim serve"}
    found = set()
    for page in PAGES:
        text = page.read_text()
        found |= {(c.removeprefix("accelo-kit").strip(), f)
                  for c, f in re.findall(r"^\| `(accelo-kit[\w ]*)` \| `(-[\w-]+)` \|", text, re.M)}
        for line in text.splitlines():
            for match in re.finditer(r"accelo-kit((?: -[\w-]+)*) ((?:sim )?[a-z]+)\b([^`|]*)", line):
                command = match.group(2).strip()
                if command not in commands:
                    continue
                found |= {("", f) for f in re.findall(r"(?<![\w-])(-{1,2}[a-z][\w-]*)", match.group(1))}
                rest = match.group(3).split("accelo-kit")[0].split("#")[0]
                found |= {(command, f) for f in re.findall(r"(?<![\w-])(--[a-z][\w-]*|-v+)\b", rest)}
    return {("", "-v") if flag.startswith("-vv") else (command, flag) for command, flag in found}


def test_every_cli_option_is_documented() -> None:
    missing = _real_flags() - _documented_flags()
    assert not missing, f"CLI options missing from the docs: {sorted(missing)}: run make docs"


def test_no_documented_cli_option_is_gone() -> None:
    real = _real_flags()
    gone = {(c, f) for c, f in _documented_flags() if (c, f) not in real and ("", f) not in real}
    assert not gone, f"documented CLI options that accelo_kit.cli.build_parser() does not have: {sorted(gone)}"


# -- notebook parameters ------------------------------------------------------------------------------------------
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_notebook_parameter_is_documented(notebook: str) -> None:
    text = (DOCS / "notebooks.md").read_text()
    assert f"<!-- generated: notebook-params:{notebook} -->" in text, f"docs/notebooks.md has no table for {notebook}"


def test_no_documented_notebook_parameter_is_gone() -> None:
    real = {p.name for nb in NOTEBOOKS for p in gen_docs.notebook_parameters(nb)}
    documented: set[str] = set()
    for page in PAGES:
        text = page.read_text()
        for line in text.splitlines():
            if "papermill" in line:
                documented |= set(re.findall(r"(?<![\w-])-p (\w+)", line))
        for params in re.findall(r"parameters=\{(.*?)\}", text, re.S):
            documented |= set(re.findall(r'"(\w+)":', params))
    gone = documented - real
    assert not gone, f"documented notebook parameters no notebook has: {sorted(gone)}"
