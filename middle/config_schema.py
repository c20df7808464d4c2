"""The typed schema of middle's configuration, checked file by file.

Each problem is one line naming the file, the key, the value and what is expected, e.g.
`~/.middle/config.toml: [global] max_concurrent = 'four': expected a positive integer`.
`load_config` refuses a config with any problem; `middle doctor` lists every one.

Unknown top-level tables are left alone (a plugin or a newer middle may own them); an
unknown key inside one of middle's own tables is refused, since it is almost always a
typo (`max_concurent`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = tuple[str, Callable[[Any], bool]]


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


POSITIVE_INT: Check = ("a positive integer", lambda v: _integer(v) and v > 0)
POSITIVE_NUMBER: Check = ("a positive number of seconds", lambda v: _number(v) and v > 0)
TEXT: Check = ("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")
# An adapter's name: which adapters exist is the plugins' business (`middle doctor` checks
# the name against them), so here it only has to be a name.
ADAPTER: Check = ('an adapter\'s name, e.g. "claude"', lambda v: isinstance(v, str) and v != "")
ARGV: Check = (
    'a list of strings, e.g. ["python3", "agent.py"]',
    lambda v: isinstance(v, list) and all(isinstance(part, str) for part in v),
)
FLAG: Check = ("true or false", lambda v: isinstance(v, bool))
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
}
SCHEMA: dict[str, dict[str, Check]] = {
    "global": {"default_adapter": ADAPTER, "max_concurrent": POSITIVE_INT},
    "repo": {"default_adapter": ADAPTER},
    "epic_store": {"mode": MODE, "epics_dir": TEXT},
    "limits": {
        "max_concurrent": POSITIVE_INT,
        "complexity_ceiling": POSITIVE_INT,
        "launch_timeout_seconds": POSITIVE_NUMBER,
        "turn_timeout_seconds": POSITIVE_NUMBER,
        "idle_warning_seconds": POSITIVE_NUMBER,
        "idle_kill_seconds": POSITIVE_NUMBER,
        "unknown_screen_seconds": POSITIVE_NUMBER,
    },
    "ci": {"install": PIP_REQUIREMENT},
}


def config_problems(source: str, data: Mapping[str, Any]) -> list[str]:
    """Every way `data` (one parsed file, named `source`) breaks the schema."""
    problems: list[str] = []
    for table, keys in SCHEMA.items():
        problems += _table(source, table, data.get(table), keys)
    adapters = data.get("adapters")
    if adapters is not None and not isinstance(adapters, Mapping):
        problems.append(f"{source}: adapters = {adapters!r}: expected a table")
    elif adapters is not None:
        for name, settings in adapters.items():
            problems += _table(source, f"adapters.{name}", settings, ADAPTER_KEYS, strict=False)
    return problems


def _table(
    source: str, table: str, value: Any, keys: Mapping[str, Check], *, strict: bool = True
) -> list[str]:
    """The problems of one table: wrong types, and (if `strict`) keys it does not know."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [f"{source}: {table} = {value!r}: expected a [{table}] table"]
    problems = []
    for key, item in value.items():
        if key not in keys and not strict:
            continue
        if key not in keys:
            problems.append(
                f"{source}: [{table}] {key} = {item!r}: expected one of the keys "
                f"{', '.join(keys)} (is it misspelt?)"
            )
            continue
        expected, valid = keys[key]
        if not valid(item):
            problems.append(f"{source}: [{table}] {key} = {item!r}: expected {expected}")
    return problems
