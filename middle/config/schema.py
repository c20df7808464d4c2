"""The typed schema of middle's configuration, checked file by file.

Each problem is one line naming the file, the key, the value and what is expected, e.g.
`~/.middle/config.toml: [global] max_concurrent = 'four': expected a positive integer`.
`load_config` refuses a config with any problem; `middle doctor` lists every one.

`SCHEMA` is the one list of middle's tables and their keys: a table or a key it does not
name is refused, with a "did you mean" when one is close, since it is almost always a typo
(`[limit]`, `max_concurent`). A new table is one line there, a new key one entry. Two kinds
of table hold keys that are not middle's: each `[adapters.NAME]` (the keys every adapter
shares are typed, an adapter's own are its business) and the table named after the issue
store's mode (`[notes]` for `mode = "notes"`: a plugin's store reads its own settings there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

Check = tuple[str, Callable[[Any], bool]]


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


POSITIVE_INT: Check = ("a positive integer", lambda v: _integer(v) and v > 0)
POSITIVE_NUMBER: Check = ("a positive number of seconds", lambda v: _number(v) and v > 0)
POSITIVE_HOURS: Check = ("a positive number of hours", lambda v: _number(v) and v > 0)
TEXT: Check = ("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")
# An adapter's name: which adapters exist is the plugins' business (`middle doctor` checks
# the name against them), so here it only has to be a name.
ADAPTER: Check = ('an adapter\'s name, e.g. "claude"', lambda v: isinstance(v, str) and v != "")
ARGV: Check = (
    'a list of strings, e.g. ["python3", "agent.py"]',
    lambda v: isinstance(v, list) and all(isinstance(part, str) for part in v),
)
ADAPTERS_LIST: Check = (
    'a list of adapter names, e.g. ["claude", "codex"]',
    lambda v: isinstance(v, list) and all(isinstance(name, str) and name for name in v),
)
FLAG: Check = ("true or false", lambda v: isinstance(v, bool))
EVIDENCE_MODE: Check = ('"required" or "off"', lambda v: v in ("required", "off"))


def _inside_repo(value: Any) -> bool:
    """A relative folder that never climbs out of the repository."""
    if not isinstance(value, str) or not value.strip():
        return False
    path = PurePosixPath(value)
    return not path.is_absolute() and ".." not in path.parts


REPO_FOLDER: Check = ('a folder inside the repository, e.g. "planning/epics"', _inside_repo)
DURATION = re.compile(r"(?:\d+[smhd])+")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int | None:
    """`15m`, `1h30m` as seconds; None if `text` is not such a duration."""
    if not DURATION.fullmatch(text):
        return None
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


INTERVAL: Check = (
    'a duration like "15m" or "1h30m", or "off"',
    lambda v: isinstance(v, str) and (v == "off" or (duration_seconds(v) or 0) > 0),
)
# An issue store's name: which stores exist is the plugins' business too (`middle doctor`
# checks the mode against them, and opening the store refuses an unknown one).
MODE: Check = (
    'an issue store\'s name, e.g. "file" or "github"',
    lambda v: isinstance(v, str) and v != "",
)
# What CI jobs give pip (`[ci] install`): a requirement, on one line, that is not an option
# and holds no Actions expression (it lands in the generated workflow's run line).
PIP_REQUIREMENT: Check = (
    'a pip requirement on one line, e.g. "middle-management==0.1.0" or '
    '"git+https://github.com/you/middle@v0.1.0"',
    lambda v: (
        isinstance(v, str)
        and v.strip() == v != ""
        and not v.startswith("-")
        and not any(c in v for c in "\r\n")
        and "${{" not in v
    ),
)

BRANCH: Check = (
    'a branch name, e.g. "main"',
    lambda v: isinstance(v, str) and v.strip() == v != "",
)

# Keys any adapter may take. An adapter's own keys (Codex's `sandbox_mode`, a plugin's)
# are its business: they are not refused here.
ADAPTER_KEYS: dict[str, Check] = {
    "binary": TEXT,
    "permission_mode": TEXT,
    "argv": ARGV,
    "resume_argv": ARGV,
    "env_pass": ARGV,
    "confirms_prompts": FLAG,
    "max_concurrent": POSITIVE_INT,
    "mode": TEXT,  # the acp adapter's ACP session mode (session/set_mode)
}
SCHEMA: dict[str, dict[str, Check]] = {
    "global": {
        "default_adapter": ADAPTER,
        "max_concurrent": POSITIVE_INT,
        "adapter_fallback": ADAPTERS_LIST,
    },
    # `parallel`: fan an Epic's sub-issues out to this many agents at once (issue 23)
    "repo": {"default_adapter": ADAPTER, "default_branch": BRANCH, "parallel": POSITIVE_INT},
    "epic_store": {"mode": MODE, "epics_dir": REPO_FOLDER},
    "limits": {
        "max_concurrent": POSITIVE_INT,
        "complexity_ceiling": POSITIVE_INT,
        # children of one fanned-out Epic holding agent slots at once, so it never
        # starves other Epics (the global, repo and adapter caps still hold)
        "max_children_per_epic": POSITIVE_INT,
        "launch_timeout_seconds": POSITIVE_NUMBER,
        "turn_timeout_seconds": POSITIVE_NUMBER,
        "idle_warning_seconds": POSITIVE_NUMBER,
        "idle_kill_seconds": POSITIVE_NUMBER,
        "unknown_screen_seconds": POSITIVE_NUMBER,
    },
    "recommender": {
        "interval": INTERVAL,
        "auto_dispatch": FLAG,
        "max_attempts": POSITIVE_INT,
        "adapter": ADAPTER,
    },
    "ci": {"install": PIP_REQUIREMENT},
    # the documentation workflow: `serve` audits the docs every `interval` when enabled;
    # with write, the agent's fixes become a draft PR (GitHub mode) or a ready branch
    "docs": {
        "enabled": FLAG,
        "interval": INTERVAL,
        "adapter": ADAPTER,
        "write": FLAG,
        "path": REPO_FOLDER,
    },
    # what `serve` forgets: finished runs' events after events_days, and a finished run's
    # rows but its `workflows` row (archived) after runs_days
    "retention": {"events_days": POSITIVE_INT, "runs_days": POSITIVE_INT},
    # GitHub mode: how long a ready PR's required checks may stay pending before middle
    # hands them to a human; how often `serve` polls parked runs
    "github": {"checks_pending_hours": POSITIVE_HOURS, "poll_seconds": POSITIVE_NUMBER},
    # issue 19: done needs evidence for each acceptance criterion ("required" by default
    # when the repo has a .middle/verify.toml on its base branch, else "off"); with
    # require_plan, the agent's plan must be on the issue before a done counts
    "verify": {"evidence": EVIDENCE_MODE, "require_integration": FLAG, "require_plan": FLAG},
}
ADAPTERS = "adapters"  # `[adapters.NAME]`: one table per adapter, typed by ADAPTER_KEYS


@dataclass(frozen=True)
class Mapped:
    """A reference key middle has under another name: `patch` turns its value into
    middle's keys, as `{table: {key: value}}`, once the value passes `expected`."""

    target: tuple[str, str]
    expected: Check
    patch: Callable[[Any], dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class Ignored:
    """A reference key with no meaning here: one warning line says why, then it is
    dropped. With `agrees`, a value that is what middle does anyway passes silently."""

    why: str
    agrees: Callable[[Any, Path], bool] | None = None


def _minutes(table: str) -> Mapped:
    return Mapped((table, "interval"), POSITIVE_INT, lambda n: {table: {"interval": f"{n}m"}})


def _in_home(name: str) -> Ignored:
    """A path middle derives from `$MIDDLE_HOME`: it agrees when it names that path."""
    return Ignored(
        f"middle keeps it at $MIDDLE_HOME/{name}; set MIDDLE_HOME to move it",
        lambda value, home: isinstance(value, str) and Path(value).expanduser() == home / name,
    )


_PER_ADAPTER: Check = (
    "a table of adapter names to positive integers, e.g. { claude = 2 }",
    lambda v: isinstance(v, Mapping) and all(POSITIVE_INT[1](n) for n in v.values()),
)
_FROM_REPO = "middle reads the repository from its checkout and its git remote"
# The keys of the reference's config (thejustinwalsh/middle: its global config.toml and
# its committed .middle/policy.toml), so a repo moving over is not stopped at the first
# command. A key middle has under its own name (`[global] max_concurrent`, `[repo]
# default_branch`) is simply in SCHEMA. A `Mapped` key whose target SCHEMA lacks is
# ignored with a warning too, until middle has that feature.
REFERENCE_KEYS: dict[str, dict[str, Mapped | Ignored]] = {
    "global": {
        "dispatcher_port": Ignored("middle has no dispatcher server; `middle dashboard --port`"),
        "worktree_root": _in_home("worktrees"),
        "db_path": _in_home("db.sqlite3"),
        "log_dir": _in_home("logs"),
    },
    "repo": {
        "owner": Ignored(_FROM_REPO),
        "name": Ignored(_FROM_REPO),
        "pr_mode": Ignored(
            'middle opens one pull request per issue, as pr_mode = "single"',
            lambda value, home: value == "single",
        ),
    },
    "limits": {
        "max_concurrent_per_adapter": Mapped(
            (ADAPTERS, "max_concurrent"),
            _PER_ADAPTER,
            lambda limits: {ADAPTERS: {name: {"max_concurrent": n} for name, n in limits.items()}},
        ),
    },
    "recommender": {
        # before interval_minutes: `enabled = false` wins over the interval it leaves
        "enabled": Mapped(
            ("recommender", "interval"),
            FLAG,
            lambda on: {} if on else {"recommender": {"interval": "off"}},
        ),
        "interval_minutes": _minutes("recommender"),
        "agent_timeout_minutes": Ignored("a turn's limit is [limits] turn_timeout_seconds"),
    },
    "docs": {
        "interval_minutes": _minutes("docs"),
        "tool": Ignored("middle finds the docs tool by its config files"),
    },
    "state_issue": {
        "number": Ignored("middle finds the state issue by its label"),
        "label": Ignored(
            "middle finds the state issue by the label agent-queue:state",
            lambda value, home: value == "agent-queue:state",
        ),
    },
    "dashboard": {
        key: Ignored("middle's dashboard is a browser page") for key in ("windowed", "theme")
    },
    "bootstrap": {
        key: Ignored("middle init keeps no record of itself") for key in ("version", "installed_at")
    },
    "staleness": {"spec_path": Ignored("middle has no staleness check")},
}


def reference_keys(
    source: str, data: Mapping[str, Any], home: Path
) -> tuple[dict[str, Any], list[str], list[str]]:
    """`data` with the reference's keys turned into middle's (a key the file also sets
    under middle's name keeps the file's), and the problems and warnings on the way."""
    translated = {
        table: dict(value) if isinstance(value, Mapping) else value for table, value in data.items()
    }
    patches: list[dict[str, dict[str, Any]]] = []
    problems: list[str] = []
    warnings: list[str] = []
    for table, keys in REFERENCE_KEYS.items():
        value = translated.get(table)
        if not isinstance(value, dict):
            continue
        for key, meaning in keys.items():
            if key not in value or key in SCHEMA.get(table, {}):
                continue  # absent, or middle's own key by now
            item = value.pop(key)
            said = f"{source}: [{table}] {key} = {item!r}"
            if isinstance(meaning, Mapped) and _known(meaning.target):
                expected, valid = meaning.expected
                if valid(item):
                    patches.append(meaning.patch(item))
                else:
                    problems.append(f"{said}: expected {expected}")
            elif isinstance(meaning, Mapped):
                warnings.append(f"{said}: ignored (middle has no [{meaning.target[0]}] yet)")
            elif meaning.agrees is None or not meaning.agrees(item, home):
                warnings.append(f"{said}: ignored ({meaning.why})")
        if not value and table not in SCHEMA:
            del translated[table]
    for patch in patches:
        for table, keys in patch.items():
            _under(translated, table, keys)
    return translated, problems, warnings


def _known(target: tuple[str, str]) -> bool:
    table, key = target
    return key in (ADAPTER_KEYS if table == ADAPTERS else SCHEMA.get(table, {}))


def _under(data: dict[str, Any], table: str, keys: Mapping[str, Any]) -> None:
    """Put `keys` in `data[table]` beneath what the file states itself."""
    here = data.setdefault(table, {})
    if not isinstance(here, dict):
        return  # the schema reports the file's own bad table
    for key, value in keys.items():
        if isinstance(value, Mapping) and isinstance(here.get(key), Mapping):
            here[key] = {**value, **here[key]}
        else:
            here.setdefault(key, value)


def config_problems(
    source: str, data: Mapping[str, Any], store_table: str | None = None
) -> list[str]:
    """Every way `data` (one parsed file, named `source`) breaks the schema. `store_table`
    is the merged `[epic_store] mode`: the table of that name is the issue store's own."""
    problems: list[str] = []
    known = [*SCHEMA, ADAPTERS]
    for table, value in data.items():
        if table in SCHEMA:
            problems += _table(source, table, value, SCHEMA[table])
        elif table == ADAPTERS:
            problems += _adapters(source, value)
        elif table == store_table and table not in known:
            if not isinstance(value, Mapping):
                problems.append(f"{source}: {table} = {value!r}: expected a [{table}] table")
        else:
            problems.append(_unknown_table(source, table, value, known))
    return problems


def _unknown_table(source: str, table: str, value: Any, known: list[str]) -> str:
    tables = ", ".join(f"[{name}]" for name in known)
    import difflib  # only a misspelt name needs it

    close = difflib.get_close_matches(table, known, n=1)
    hint = f" (did you mean [{close[0]}]?)" if close else ""
    if isinstance(value, Mapping):
        return f"{source}: [{table}] is not a table middle knows: expected one of {tables}{hint}"
    return f"{source}: {table} = {value!r}: expected a table, one of {tables}{hint}"


def _adapters(source: str, adapters: Any) -> list[str]:
    if not isinstance(adapters, Mapping):
        return [f"{source}: {ADAPTERS} = {adapters!r}: expected a table of [adapters.NAME] tables"]
    problems = []
    for name, settings in adapters.items():
        problems += _table(source, f"{ADAPTERS}.{name}", settings, ADAPTER_KEYS, strict=False)
    return problems


def _table(
    source: str, table: str, value: Any, keys: Mapping[str, Check], *, strict: bool = True
) -> list[str]:
    """The problems of one table: wrong types, and (if `strict`) keys it does not know."""
    if not isinstance(value, Mapping):
        return [f"{source}: {table} = {value!r}: expected a [{table}] table"]
    problems = []
    for key, item in value.items():
        if key not in keys and not strict:
            continue
        if key not in keys:
            import difflib  # only a misspelt name needs it

            close = difflib.get_close_matches(key, list(keys), n=1)
            hint = f" (did you mean {close[0]}?)" if close else " (is it misspelt?)"
            problems.append(
                f"{source}: [{table}] {key} = {item!r}: expected one of the keys "
                f"{', '.join(keys)}{hint}"
            )
            continue
        expected, valid = keys[key]
        if not valid(item):
            problems.append(f"{source}: [{table}] {key} = {item!r}: expected {expected}")
    return problems
