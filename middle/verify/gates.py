"""Verification gates from `.middle/verify.toml`: commands that must pass before a branch
counts as done. The reference's schema: each `[[gate]]` has

- `name` (unique) and `command`: a string runs as `sh -c` (so `&&`, pipes, `cd` and
  variables mean what they mean in a shell), a list runs as argv;
- `timeout_seconds` (default 300): the whole process group is killed after it;
- `phases`: the sub-issues the gate is about, as the Epic names them (`#n`, `n` or a
  slug); without it the gate runs for every phase;
- `category`: `unit` (the default) or `integration`, recorded with each result.

Unknown keys are refused, and a file with no gate fails loudly. The file is read from the
base branch's committed tree, never from a working file, so neither the agent's branch nor
an uncommitted edit in the main checkout changes the gates a run is judged by.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from middle.errors import ConfigError, GitError, InvalidRefError
from middle.refs import validate_ref
from middle.system.git import git
from middle.verify.process import run_in_group

VERIFY_FILE = ".middle/verify.toml"
GATE_KEYS = ("name", "command", "timeout_seconds", "phases", "category")
CATEGORIES = ("unit", "integration")
DEFAULT_TIMEOUT_SECONDS = 300.0
_NUMBER = re.compile(r"#?([1-9][0-9]*)")


@dataclass(frozen=True)
class Gate:
    """A gate as loaded: `argv` is what runs (`sh -c COMMAND` for a string command);
    `phases` are sub-issue numbers (as text, without `#`) or slugs, empty for every phase."""

    name: str
    argv: tuple[str, ...]
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    phases: tuple[str, ...] = ()
    category: str = "unit"


@dataclass(frozen=True)
class GateResult:
    """One gate run on one commit: what an evidence record holds. `result` is `passed`,
    `failed`, `timed-out` or `error` (the command could not be started)."""

    gate: str
    category: str
    result: str
    duration_seconds: float
    head: str
    tail: str

    @property
    def passed(self) -> bool:
        return self.result == "passed"

    @property
    def last_line(self) -> str:
        """The output's last non-blank line ("" when there is none)."""
        lines = [line.strip() for line in self.tail.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def summary(self) -> str:
        """One line for a person: `tests [unit] failed: 1 failed, 3 passed`."""
        said = f": {self.last_line}" if self.last_line else ""
        return f"{self.gate} [{self.category}] {self.result}{said}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_gates(repo: Path, base: str) -> list[Gate]:
    """The gates committed on `base` (a branch or commit of `repo`); none if that commit
    has no verify.toml. `GitError` if `base` is not a commit of the repo."""
    where = f"{VERIFY_FILE} on {base}"
    try:
        listed = git("ls-tree", "--full-tree", f"{base}^{{commit}}", "--", VERIFY_FILE, cwd=repo)
    except GitError as exc:
        raise GitError(
            f"cannot read the gates from the base branch {base!r} of {repo} ({exc}); "
            f"restore that branch, or check out the base branch and dispatch again"
        ) from exc
    if not listed:
        return []
    blob = listed.split("\t", 1)[0].split()[-1]
    try:
        data = tomllib.loads(git("cat-file", "blob", blob, cwd=repo))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from exc
    return parse_gates(data, where)


def parse_gates(data: dict[str, Any], where: str) -> list[Gate]:
    """The gates of a parsed verify.toml; `ConfigError` naming the gate, the key, the value
    and the fix for anything else."""
    unknown = sorted(set(data) - {"gate"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; it holds only [[gate]] tables")
    entries = data.get("gate", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where} defines no [[gate]]; add one, or delete the file")
    gates = [_gate(entry, index, where) for index, entry in enumerate(entries, 1)]
    names = [gate.name for gate in gates]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"{where}: two gates are named {twice[0]!r}; gate names must be unique")
    return gates


def _gate(entry: Any, index: int, where: str) -> Gate:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: gate {index} must be a [[gate]] table")
    unknown = sorted(set(entry) - set(GATE_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: gate {index} has unknown key(s) {unknown}; "
            f"the keys are {', '.join(GATE_KEYS)}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: gate {index} needs a `name` (a non-empty string)")
    what = f"{where}: gate {name!r}"
    return Gate(
        name=name.strip(),
        argv=_argv(entry.get("command"), what),
        timeout_seconds=_timeout(entry.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS), what),
        phases=_phases(entry["phases"], what) if "phases" in entry else (),
        category=_category(entry.get("category", "unit"), what),
    )


def _argv(command: Any, what: str) -> tuple[str, ...]:
    if isinstance(command, str) and command.strip():
        return ("sh", "-c", command)
    if isinstance(command, list) and command and all(isinstance(c, str) for c in command):
        return tuple(command)
    raise ConfigError(
        f"{what} has `command` = {command!r}; give a shell command (a string) or an argv "
        f"(a list of strings)"
    )


def _timeout(value: Any, what: str) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and math.isfinite(value) and value > 0:
        return float(value)
    raise ConfigError(f"{what} has `timeout_seconds` = {value!r}; give a positive number")


def _phases(value: Any, what: str) -> tuple[str, ...]:
    """Sub-issue numbers (`3`, `"3"`, `"#3"`, kept as `"3"`) or slugs. An empty list would
    quietly match no phase, so it is refused: leave `phases` out to run for every phase."""
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{what} has `phases` = {value!r}; list sub-issues (#n, n or a slug), or leave "
            f"`phases` out to run the gate for every phase"
        )
    return tuple(_phase(phase, what) for phase in value)


def _phase(phase: Any, what: str) -> str:
    text = str(phase) if isinstance(phase, int) and not isinstance(phase, bool) else phase
    if isinstance(text, str):
        number = _NUMBER.fullmatch(text)
        if number:
            return number[1]
        try:
            if not text.isdigit():
                return validate_ref(text)
        except InvalidRefError:
            pass
    raise ConfigError(
        f"{what} has phase {phase!r}; name a sub-issue as #n or n (a number from 1), or by "
        f"its slug (letters, digits, '.', '_' and '-')"
    )


def _category(value: Any, what: str) -> str:
    if value not in CATEGORIES:
        raise ConfigError(
            f"{what} has `category` = {value!r}; use one of {', '.join(map(repr, CATEGORIES))}"
        )
    return str(value)


def run_gates(
    gates: list[Gate], checkout: Path, head: str, env: Mapping[str, str] | None = None
) -> list[GateResult]:
    """Run every gate, in order, in `checkout` (a clean checkout of commit `head`), with
    environment `env`. A gate runs the agent's code, so a run passes it what the agent
    itself may see, never middle's own environment (tokens, keys, `MIDDLE_*`)."""
    return [run_gate(gate, checkout, head, env) for gate in gates]


def run_gate(
    gate: Gate, checkout: Path, head: str, env: Mapping[str, str] | None = None
) -> GateResult:
    try:
        finished = run_in_group(list(gate.argv), checkout, gate.timeout_seconds, env)
    except OSError as exc:
        tail = f"could not run {gate.argv[0]}: {exc.strerror or exc}"
        return GateResult(gate.name, gate.category, "error", 0.0, head, tail)
    if finished.timed_out:
        result = "timed-out"
        tail = f"{finished.tail}\ntimed out after {gate.timeout_seconds:g}s".lstrip("\n")
    else:
        result = "passed" if finished.exit_code == 0 else "failed"
        tail = finished.tail
    return GateResult(gate.name, gate.category, result, round(finished.seconds, 3), head, tail)


def failure_report(failing: list[GateResult]) -> str:
    """What the agent is told when gates fail, as one line (it is typed into its CLI):
    which gates, on which commit, the tail of each one's output, and what to do."""
    head = failing[0].head[:12]
    said = "; ".join(f"{r.summary()} ... {r.tail.strip()[-300:]}" for r in failing)
    return " ".join(
        f"Verification failed on commit {head}, so the work is not done yet: {said} The "
        f"gates ran on a clean checkout of your branch's last commit, so only committed "
        f"files count. Fix it, commit, and write .middle/done.json again.".split()
    )
