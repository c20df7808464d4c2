"""`middle config KEY [VALUE]`: read one setting as merged, or set it in one file.

A key is `TABLE.KEY` (`limits.max_concurrent`), or `adapters.NAME.KEY`. A value is TOML
(`3`, `true`, `"15m"`), a bare word a string. The file is checked against the one schema
(`middle.config.schema`) as it would be written, and nothing is written on a refusal; the
edit keeps the file's comments and other lines (`middle.config.edit`)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import tomlkit

from middle.app.repo import resolve_repo
from middle.config import DEFAULTS, load_config, middle_home, read_toml
from middle.config.edit import parse_value, with_key
from middle.config.schema import ADAPTER_KEYS, ADAPTERS, SCHEMA, config_problems
from middle.errors import ConfigError, MiddleError
from middle.system import git
from middle.system.files import replace_file

POLICY = Path(".middle") / "policy.toml"


def key_path(key: str) -> tuple[str, ...]:
    """The tables and the key `key` names; `ConfigError` with a "did you mean" if the
    schema has no such key."""
    parts = tuple(key.split("."))
    if len(parts) == 2 and parts[1] in SCHEMA.get(parts[0], {}):
        return parts
    if len(parts) == 3 and parts[0] == ADAPTERS and all(parts):
        return parts  # an adapter's own keys are its business (the schema types the shared)
    known = [f"{table}.{name}" for table, keys in SCHEMA.items() for name in keys]
    known += [f"{ADAPTERS}.claude.{name}" for name in ADAPTER_KEYS]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ConfigError(
        f"{key!r} is not a setting middle knows{hint}; a key is TABLE.KEY, e.g. "
        f"limits.max_concurrent, or adapters.NAME.KEY"
    )


def set_setting(repo: str | Path, key: str, text: str, *, global_: bool = False) -> str:
    """Set `key` to `text` (parsed as TOML) in the repo's policy, or with `global_` in
    `$MIDDLE_HOME/config.toml`; return the line that says so."""
    path = key_path(key)
    value = parse_value(text)
    file = middle_home() / "config.toml" if global_ else _root(repo) / POLICY
    before = read_toml(file)
    old_text = file.read_text(encoding="utf-8") if file.exists() else ""
    new_text = with_key(old_text, path, value)
    after = tomlkit.parse(new_text).unwrap()
    mode = after.get("epic_store", {}).get("mode")
    store_table = mode if isinstance(mode, str) else None
    known = set(config_problems(str(file), before, store_table))
    new = [p for p in config_problems(str(file), after, store_table) if p not in known]
    if new:
        raise ConfigError(new[0])
    file.parent.mkdir(parents=True, exist_ok=True)
    replace_file(file, new_text)
    return f"{key} = {_render(value)} in {file}"


def show_setting(repo: str | Path, key: str) -> str:
    """`key`'s merged value and the source it comes from, as one line."""
    path = key_path(key)
    home = middle_home()
    try:
        root: Path | None = _root(repo)
    except MiddleError:
        root = None  # not in a repository: the global config and the defaults
    value = _dig(load_config(home, root), path)
    if value is None:
        return f"{key} is not set (no default)"
    return f"{key} = {_render(value)}  (from {_source(home, root, path)})"


def _source(home: Path, root: Path | None, path: tuple[str, ...]) -> str:
    if path == (ADAPTERS, "command", "argv") and os.environ.get("MIDDLE_AGENT_COMMAND"):
        return "the environment variable MIDDLE_AGENT_COMMAND"
    files = [root / POLICY] if root is not None else []
    for file in [*files, home / "config.toml"]:
        if _dig(read_toml(file), path) is not None:
            return str(file)
    return "the built-in default" if _dig(DEFAULTS, path) is not None else "an adapter's default"


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(data, dict) or name not in data:
            return None
        data = data[name]
    return data


def _render(value: Any) -> str:
    return str(tomlkit.item(value).as_string())


def _root(repo: str | Path) -> Path:
    return git.repo_root(resolve_repo(repo))
