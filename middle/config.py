"""Where middle keeps its state, and the merged configuration.

Sources, lowest to highest: built-in defaults, `$MIDDLE_HOME/config.toml`, the repo's
committed `.middle/policy.toml`, then environment variables. Tables merge key by key, so a
file only states what it changes.
"""

from __future__ import annotations

import copy
import os
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from middle.errors import ConfigError

DEFAULTS: dict[str, Any] = {
    "global": {"default_adapter": "claude", "max_concurrent": 4},
    "adapters": {},  # each adapter owns its defaults (middle/agents/)
    "repo": {},
    "epic_store": {"mode": "file", "epics_dir": "planning/epics"},
    "limits": {"max_concurrent": 3, "complexity_ceiling": 3},
    # issue 13: the recommender runs every `interval` under serve ("off": only by hand)
    "recommender": {"interval": "off", "auto_dispatch": False, "max_attempts": 3},
}


def middle_home() -> Path:
    """`$MIDDLE_HOME`, or `~/.middle`; created private (0700) on first use."""
    home = Path(os.environ.get("MIDDLE_HOME") or Path.home() / ".middle").expanduser()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)  # racing first runs both succeed
    return home


def db_path(home: Path) -> Path:
    return home / "db.sqlite3"


def load_config(home: Path, repo: Path | None = None) -> dict[str, Any]:
    """The merged configuration for `repo` (or for no repo in particular)."""
    config = copy.deepcopy(DEFAULTS)
    sources = [home / "config.toml"]
    if repo is not None:
        sources.append(repo / ".middle" / "policy.toml")
    for source in sources:
        _merge(config, read_toml(source))
    command = os.environ.get("MIDDLE_AGENT_COMMAND")
    if command:
        config["adapters"].setdefault("command", {})["argv"] = shlex.split(command)
    return config


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, `{}` when it does not exist, `ConfigError` naming the line if bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
