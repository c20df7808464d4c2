"""`doctor`: check the toolchain and the state, one verdict per check."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from middle.agents import BaseAdapter
from middle.app.plugins import load_plugins
from middle.config import db_path, load_config, load_config_checked
from middle.errors import MiddleError
from middle.issues.epic_file import parse_epic
from middle.issues.store import FileEpicStore, open_epic_store
from middle.store import LATEST_VERSION, integrity_check, open_db, schema_version

Verdict = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    name: str
    detail: str


def run_checks(home: Path, repo: Path | None = None) -> list[Check]:
    """Every check, in the order a person would fix them. `repo`, when given (a git
    checkout), adds its policy and its Epic files."""
    checks = [
        check_python(),
        check_tool("git", ["git", "--version"]),
        check_tmux(),
        check_home(home),
        check_config(home, repo),
        check_database(home),
    ]
    try:
        config = load_config(home, repo)
    except MiddleError:
        return checks  # check_config already said why
    checks += check_agents(config, repo)
    if repo is not None:
        if config["epic_store"].get("mode") == "github":
            checks.append(check_gh(repo))
        checks.append(check_epics(repo, config))
    return checks


def check_gh(repo: Path) -> Check:
    """GitHub mode needs `gh`, logged in."""
    found = check_tool("gh", ["gh", "--version"])
    if found.verdict != "ok":
        return found
    status = subprocess.run(
        ["gh", "auth", "status"], cwd=repo, capture_output=True, text=True, timeout=30
    )
    if status.returncode != 0:
        said = (status.stderr or status.stdout).strip().splitlines()
        return Check(
            "fail",
            "gh",
            f"not logged in ({said[0] if said else 'gh auth status failed'}); run: gh auth login",
        )
    return Check("ok", "gh", "logged in")


def check_python() -> Check:
    """Which interpreter middle runs on (the package itself refuses anything below 3.11)."""
    return Check("ok", "python", f"{'.'.join(map(str, sys.version_info[:3]))} ({sys.executable})")


def check_tool(name: str, version_argv: list[str]) -> Check:
    path = shutil.which(name)
    if path is None:
        return Check("fail", name, f"not found on PATH; install {name}")
    try:
        result = subprocess.run(version_argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("fail", name, f"{path} does not run: {exc}")
    if result.returncode != 0:
        return Check("fail", name, f"{path} exited {result.returncode}: {result.stderr.strip()}")
    return Check("ok", name, f"{result.stdout.strip()} ({path})")


def check_tmux() -> Check:
    found = check_tool("tmux", ["tmux", "-V"])
    if found.verdict != "ok":
        return found
    match = re.search(r"(\d+)\.(\d+)", found.detail)
    if match and (int(match[1]), int(match[2])) < (3, 0):
        return Check("warn", "tmux", f"{found.detail}; middle is tested with tmux 3.0 or newer")
    return found


def check_agents(config: dict[str, Any], repo: Path | None = None) -> list[Check]:
    """Each registered agent CLI: found (ok) or not (a warning: one agent is enough), and
    its version against the versions middle's test suite ran (a warning outside them)."""
    try:
        registry = load_plugins(repo).registry
    except MiddleError as exc:
        return [Check("fail", "plugins", str(exc))]
    checks = []
    for name in sorted(registry.adapters):
        adapter = registry.adapter(name, config)
        origin = registry.adapter_origins[name]
        label = f"agent {name}" + ("" if origin == "built-in" else f" ({origin})")
        try:
            adapter.check_available()
        except MiddleError as exc:
            checks.append(Check("warn", label, str(exc)))
        else:
            checks.append(check_agent_version(label, adapter))
    return checks


def check_agent_version(label: str, adapter: BaseAdapter) -> Check:
    if adapter.tested_versions is None:
        return Check("ok", label, "found on PATH")
    low, high = adapter.tested_versions
    tested = low if low == high else f"{low} to {high}"
    found = adapter.version()
    if found is None:
        return Check("warn", label, f"found, but it did not say its version; tested: {tested}")
    if not _version(low) <= _version(found) <= _version(high):
        return Check(
            "warn",
            label,
            f"version {found} is outside what middle was tested with ({tested}); "
            f"it may show screens middle does not know",
        )
    return Check("ok", label, f"version {found} (tested: {tested})")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_epics(repo: Path, config: dict[str, Any]) -> Check:
    """Every Epic file parses, and renders back byte for byte."""
    try:
        store = open_epic_store(repo, config)
    except MiddleError as exc:
        return Check("fail", "epics", str(exc))
    if not isinstance(store, FileEpicStore):
        return Check("ok", "epics", f"{store.mode} mode: nothing to check on disk")
    refs = store.all_refs()
    broken = []
    for ref in refs:  # every broken Epic, not just the first
        try:
            text = store.path(ref).read_text(encoding="utf-8")
            if parse_epic(text).render() != text:
                broken.append(f"{store.path(ref)} does not round-trip")
        except MiddleError as exc:
            broken.append(f"{store.path(ref)}: {exc}")
    if broken:
        return Check("fail", "epics", "\n  ".join(broken))
    return Check("ok", "epics", f"{len(refs)} Epic file(s) in {store.folder} round-trip")


def check_home(home: Path) -> Check:
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077:
        return Check(
            "warn",
            "home",
            f"{home} is mode {mode:o}; others can read session tokens (fix: chmod 700 {home})",
        )
    return Check("ok", "home", str(home))


def check_config(home: Path, repo: Path | None = None) -> Check:
    """The same schema check `load_config` makes, listing every problem."""
    try:
        config, problems = load_config_checked(home, repo)
    except MiddleError as exc:
        return Check("fail", "config", str(exc))
    problems += unknown_adapters(config, repo)
    if problems:
        return Check("fail", "config", "\n  ".join(problems))
    sources = [home / "config.toml"]
    if repo is not None:
        sources.append(repo / ".middle" / "policy.toml")
    found = [str(source) for source in sources if source.exists()]
    return Check("ok", "config", ", ".join(found) or "defaults (no config files)")


def unknown_adapters(config: dict[str, Any], repo: Path | None) -> list[str]:
    """Default adapters that no plugin registers (the schema cannot know the plugins)."""
    try:
        known = load_plugins(repo).registry.adapters
    except MiddleError:
        return []  # the plugins check reports it
    named = [(table, config[table].get("default_adapter")) for table in ("global", "repo")]
    return [
        f"[{table}] default_adapter = {name!r}: expected one of {', '.join(sorted(known))}"
        for table, name in named
        if name and name not in known
    ]


def check_database(home: Path) -> Check:
    path = db_path(home)
    try:
        db = open_db(path)
    except MiddleError as exc:
        return Check("fail", "database", str(exc))
    try:
        integrity = integrity_check(db)
        version = schema_version(db)
    finally:
        db.close()
    if integrity != "ok":
        return Check(
            "fail",
            "database",
            f"{path} fails its integrity check ({integrity}); move it "
            f"aside and re-run to start a fresh one",
        )
    if version != LATEST_VERSION:
        return Check("fail", "database", f"{path} is at schema {version}, not {LATEST_VERSION}")
    return Check("ok", "database", f"{path} (schema v{version}, integrity ok)")
