"""Which docs tool a repo uses, by its config files (issue 21 item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.config import load_config, load_config_checked
from middle.errors import ConfigError
from middle.steps.documentation.tool import detect_docs_tool


@pytest.mark.parametrize(
    ("files", "tool", "config", "root"),
    [
        ({"astro.config.mjs": "import starlight from '@astrojs/starlight'"}, "starlight",
         "astro.config.mjs", "."),
        ({"docs/astro.config.ts": "starlight({title: 'x'}) // @astrojs/starlight"},
         "starlight", "docs/astro.config.ts", "docs"),
        ({"astro.config.mjs": "export default {}", "README.md": "# x"}, "markdown", None, "."),
        ({"website/docusaurus.config.js": "module.exports = {}"}, "docusaurus",
         "website/docusaurus.config.js", "website"),
        ({"mkdocs.yml": "site_name: x"}, "mkdocs", "mkdocs.yml", "."),
        ({"docs/source/conf.py": "project = 'x'"}, "sphinx", "docs/source/conf.py", "docs"),
        ({"conf.py": "extensions = ['sphinx.ext.autodoc']"}, "sphinx", "conf.py", "."),
        ({"conf.py": "DEBUG = True"}, "markdown", None, "."),
        ({"typedoc.json": "{}"}, "typedoc", "typedoc.json", "."),
        ({"package.json": '{"typedoc": {"entryPoints": ["src"]}}'}, "typedoc", "package.json",
         "."),
        ({"package.json": '{"name": "x"}', "docs/a.md": "# a"}, "markdown", None, "docs"),
    ],
)  # fmt: skip
def test_the_docs_tool_is_found_by_its_config_file(
    tmp_path: Path, files: dict[str, str], tool: str, config: str | None, root: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = detect_docs_tool(tmp_path)
    assert (found.name, found.config, found.root) == (tool, config, root)


def test_docs_path_is_looked_at_first(tmp_path: Path) -> None:
    (tmp_path / "mkdocs.yml").write_text("site_name: x")
    (tmp_path / "guide").mkdir()
    (tmp_path / "guide" / "docusaurus.config.ts").write_text("export default {}")
    assert detect_docs_tool(tmp_path, "guide").name == "docusaurus"
    assert detect_docs_tool(tmp_path).name == "mkdocs"


def test_the_docs_table_is_typed_and_the_reference_keys_are_ours(tmp_path: Path) -> None:
    """Seen red: `[docs] enabled = true: ignored (middle has no documentation workflow
    yet)`, and the same for adapter, write and path."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[docs]\nenabled = true\ninterval_minutes = 1440\nadapter = "codex"\nwrite = true\n'
        'path = "site"\ntool = "mkdocs"\n'
    )
    config, problems, warnings = load_config_checked(home)
    assert problems == []
    assert config["docs"] == {
        "enabled": True, "interval": "1440m", "adapter": "codex", "write": True, "path": "site",
    }  # fmt: skip
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "[docs] tool = 'mkdocs': ignored (middle finds the docs tool by its config files)"
    ]
    (home / "config.toml").write_text('[docs]\npath = "../elsewhere"\n')
    with pytest.raises(ConfigError, match=r"\[docs\] path = '../elsewhere': expected a folder"):
        load_config(home)
