"""Which tool builds a repository's documentation, found by its config file.

Looked for at the repo's top, in `[docs] path` when set, and in the folders docs usually
live in (`docs/`, `doc/`, `website/`, `site/`), in this order of tools: Starlight (an
`astro.config.*` that names `@astrojs/starlight`), Docusaurus (`docusaurus.config.*`),
MkDocs (`mkdocs.yml`), Sphinx (a `conf.py`, also under `source/`), TypeDoc
(`typedoc.json`, `typedoc.config.*`, or a `typedoc` key in `package.json`). A repo with
none of them is plain Markdown. Only file names are read, and the two files whose content
decides (Astro's config, `package.json`); nothing is run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from middle.errors import UNREADABLE_JSON

FOLDERS = ("", "docs", "doc", "website", "site")
_JS = ("js", "mjs", "cjs", "ts", "mts")


@dataclass(frozen=True)
class DocsTool:
    name: str  # starlight, docusaurus, mkdocs, sphinx, typedoc, markdown
    label: str  # as a person writes it: "Starlight", "plain Markdown"
    config: str | None  # its config file, relative to the repo; None for plain Markdown
    root: str  # the folder the docs live in, relative to the repo ("." for the top)


def _first(folder: Path, names: list[str]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _mentions(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _typedoc_in_package(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *UNREADABLE_JSON):
        return False
    return isinstance(data, dict) and "typedoc" in data


def _in(folder: Path, docs_folder: bool) -> tuple[str, str, Path] | None:
    """(name, label, config) of the tool configured in `folder`, if any. A `conf.py` is
    Sphinx's in a `docs/` or `doc/` folder, elsewhere only if it names sphinx."""
    astro = _first(folder, [f"astro.config.{ext}" for ext in _JS])
    if astro is not None and _mentions(astro, "@astrojs/starlight"):
        return "starlight", "Starlight", astro
    found = _first(folder, [f"docusaurus.config.{ext}" for ext in _JS])
    if found is not None:
        return "docusaurus", "Docusaurus", found
    found = _first(folder, ["mkdocs.yml", "mkdocs.yaml"])
    if found is not None:
        return "mkdocs", "MkDocs", found
    found = _first(folder, ["conf.py", "source/conf.py"])
    if found is not None and (docs_folder or _mentions(found, "sphinx")):
        return "sphinx", "Sphinx", found
    found = _first(folder, ["typedoc.json", *(f"typedoc.config.{ext}" for ext in _JS)])
    if found is not None:
        return "typedoc", "TypeDoc", found
    package = folder / "package.json"
    if package.is_file() and _typedoc_in_package(package):
        return "typedoc", "TypeDoc", package
    return None


def detect_docs_tool(repo: Path, path: str | None = None) -> DocsTool:
    """The docs tool of the checkout at `repo` (`path`: the `[docs] path` folder, looked
    at first); plain Markdown when no tool's config is found."""
    folders = ([path] if path else []) + [f for f in FOLDERS if f != path]
    for name in folders:
        folder = repo / name if name else repo
        found = _in(folder, name in ("docs", "doc")) if folder.is_dir() else None
        if found is not None:
            tool, label, config = found
            root = config.parent.relative_to(repo).as_posix()
            if tool == "sphinx" and config.parent.name == "source":
                root = config.parent.parent.relative_to(repo).as_posix()
            return DocsTool(tool, label, config.relative_to(repo).as_posix(), root or ".")
    markdown = path or ("docs" if (repo / "docs").is_dir() else ".")
    return DocsTool("markdown", "plain Markdown", None, markdown)
