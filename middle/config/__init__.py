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

from middle.config.schema import ADAPTERS, config_problems, reference_keys
from middle.errors import ConfigError
from middle.system.files import make_private, not_utf8

DEFAULTS: dict[str, Any] = {
    "global": {"default_adapter": "claude", "max_concurrent": 4, "adapter_fallback": []},
    "adapters": {},  # each adapter owns its defaults (middle/agents/)
    "repo": {},
    "epic_store": {"mode": "file", "epics_dir": "planning/epics"},
    "limits": {"max_concurrent": 3, "complexity_ceiling": 3, "max_children_per_epic": 3},
    # issue 13: the recommender runs every `interval` under serve ("off": only by hand)
    "recommender": {"interval": "off", "auto_dispatch": False, "max_attempts": 3},
    # issue 19: a ready PR's required checks pending this long get a comment for a human;
    # issue 24: `serve` polls parked runs this often (a pass that finds nothing is 304s)
    "github": {"checks_pending_hours": 48, "poll_seconds": 10},
    "retention": {"events_days": 14, "runs_days": 30},
    # the documentation workflow: by hand (`middle docs`), or under serve when enabled
    "docs": {"enabled": False, "interval": "1d", "write": False},
}


def middle_home() -> Path:
    """`$MIDDLE_HOME`, or `~/.middle`; created private (0700) on first use, and made
    private again when found open to others: it holds session tokens."""
    home = Path(os.environ.get("MIDDLE_HOME") or Path.home() / ".middle").expanduser()
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)  # racing first runs both succeed
    except OSError as exc:
        why = "it is not a directory" if home.exists() and not home.is_dir() else exc.strerror
        named = "MIDDLE_HOME =" if os.environ.get("MIDDLE_HOME") else "the default home"
        raise ConfigError(
            f"{named} {str(home)!r} cannot be middle's home ({why}); "
            "point MIDDLE_HOME at a directory"
        ) from exc
    make_private(home)
    return home


def db_path(home: Path) -> Path:
    return home / "db.sqlite3"


def load_config(home: Path, repo: Path | None = None) -> dict[str, Any]:
    """The merged configuration for `repo` (or for no repo in particular). A file that
    breaks the schema raises `ConfigError` naming the file, key, value and expectation."""
    config, problems, _ = load_config_checked(home, repo)
    if problems:
        more = f" (and {len(problems) - 1} more; see: middle doctor)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)
    return config


def load_config_checked(
    home: Path, repo: Path | None = None
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The merged configuration, every schema problem of its files (doctor lists them
    all), and a warning for each key of the reference's config that means nothing here
    (`schema.REFERENCE_KEYS`). A file that is not TOML at all still raises `ConfigError`."""
    config = copy.deepcopy(DEFAULTS)
    sources = [home / "config.toml"]
    if repo is not None:
        sources.append(repo / ".middle" / "policy.toml")
    files, problems, warnings = [], [], []
    for source in sources:
        data, wrong, ignored = reference_keys(str(source), read_toml(source), home)
        files.append((source, data))
        problems += wrong
        warnings += ignored
    chosen = False  # whether any file names a default adapter
    for _, data in files:
        chosen = chosen or any(
            isinstance(data.get(table), dict) and "default_adapter" in data[table]
            for table in ("global", "repo")
        )
        _merge(config, _tables_only(data))
    mode = config["epic_store"].get("mode")
    for source, data in files:
        problems += config_problems(str(source), data, mode if isinstance(mode, str) else None)
    command = os.environ.get("MIDDLE_AGENT_COMMAND")
    if command:
        config["adapters"].setdefault("command", {})["argv"] = _split_command(command)
    if not chosen and config["adapters"].get("command", {}).get("argv"):
        # Configuring the command adapter's argv, and no default, means "use it".
        config["global"]["default_adapter"] = "command"
        config["global"]["adapter_chosen_because"] = "[adapters.command] argv is set"
    return config, problems, warnings


def _split_command(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError as exc:
        raise ConfigError(
            f"MIDDLE_AGENT_COMMAND = {command!r} cannot be split into words ({exc}); "
            "quote it as a shell would"
        ) from exc


def _tables_only(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` without the values that stand where a table belongs (the schema reports
    each one), so the merged config keeps its shape: every table a dict."""
    kept = {key: value for key, value in data.items() if isinstance(value, Mapping)}
    if ADAPTERS in kept:
        adapters = kept[ADAPTERS].items()
        kept[ADAPTERS] = {name: value for name, value in adapters if isinstance(value, Mapping)}
    return kept


def workflow_adapter(config: Mapping[str, Any], table: str) -> str:
    """The adapter a workflow of its own (`[recommender]`, `[docs]`) runs: its table's
    `adapter`, else the repo's default, else the global default."""
    return str(
        config[table].get("adapter")
        or config["repo"].get("default_adapter")
        or config["global"]["default_adapter"]
    )


def adapter_choice(config: Mapping[str, Any], agent: str | None, label: str | None) -> str:
    """Why this run gets its adapter, in words a refusal can quote."""
    if agent:
        return "--agent"
    if label:
        return "the issue's agent: label"
    if config["repo"].get("default_adapter"):
        return "[repo] default_adapter"
    return str(
        config["global"].get("adapter_chosen_because")
        or "[global] default_adapter (the built-in default is claude; set it, or pass --agent)"
    )


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, `{}` when it does not exist, `ConfigError` naming the line if bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(path, exc)) from exc
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
