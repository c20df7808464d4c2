"""Verification gates from `.middle/verify.toml`: commands that must pass before a branch
counts as done. Each `[[gate]]` has `name` and `command` (a string, split like a shell
would but never run through one, or a list), optional `timeout_seconds` (default 300),
`phases` and `category`. Unknown keys are refused; a file with no gate fails loudly."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from middle.config import read_toml
from middle.errors import ConfigError

GATE_KEYS = {"name", "command", "timeout_seconds", "phases", "category"}


@dataclass(frozen=True)
class Gate:
    name: str
    argv: list[str]
    timeout_seconds: float = 300


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    output: str


def load_gates(repo: Path) -> list[Gate]:
    """The repo's gates; none if it has no verify.toml. Read from the main checkout, never
    from the agent's worktree, so an agent cannot rewrite the gates it is judged by."""
    path = repo / ".middle" / "verify.toml"
    if not path.exists():
        return []
    data = read_toml(path)
    unknown_top = set(data) - {"gate"}
    if unknown_top:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown_top)}; only [[gate]] tables")
    gates = []
    for index, entry in enumerate(data.get("gate", []), 1):
        unknown = set(entry) - GATE_KEYS
        if unknown:
            raise ConfigError(f"{path}: gate {index} has unknown key(s) {sorted(unknown)}")
        if "name" not in entry or "command" not in entry:
            raise ConfigError(f"{path}: gate {index} needs both `name` and `command`")
        command = entry["command"]
        argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        gates.append(Gate(str(entry["name"]), argv, float(entry.get("timeout_seconds", 300))))
    if not gates:
        raise ConfigError(f"{path} defines no [[gate]]; add one, or delete the file")
    return gates


def run_gates(gates: list[Gate], worktree: Path) -> list[GateResult]:
    results = []
    for gate in gates:
        try:
            done = subprocess.run(
                gate.argv, cwd=worktree, capture_output=True, text=True,
                timeout=gate.timeout_seconds,
            )  # fmt: skip
            output = (done.stdout + done.stderr)[-2000:]
            results.append(GateResult(gate.name, done.returncode == 0, output))
        except subprocess.TimeoutExpired:
            results.append(
                GateResult(gate.name, False, f"timed out after {gate.timeout_seconds:g}s")
            )
        except OSError as exc:
            results.append(GateResult(gate.name, False, f"could not run {gate.argv[0]}: {exc}"))
    return results
