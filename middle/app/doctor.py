"""`doctor`: check the toolchain and the state, one verdict per check."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from middle.agents import BaseAdapter
from middle.app.plugins import load_plugins
from middle.checks import Check, check_tool, loose_mode, unwritable
from middle.config import db_path, load_config, load_config_checked
from middle.errors import MiddleError
from middle.store import (
    LATEST_VERSION,
    database_files,
    integrity_check,
    open_db,
    schema_version,
)
from middle.system.tmux import Tmux


def run_checks(home: Path, repo: Path | None = None) -> list[Check]:
    """Every check, in the order a person would fix them. `repo`, when given (a git
    checkout), adds its policy and what its issue store checks (`gh`, the Epic files)."""
    checks = [
        check_python(),
        check_tool("git", ["git", "--version"]),
        check_tmux(),
        check_tmux_server(Tmux()),
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
        checks += check_issue_store(repo, config)
        checks.append(check_skills(repo, config))
    return checks


def check_skills(repo: Path, config: dict[str, Any]) -> Check:
    """The repository's copies of middle's skills, against this middle's (issue 21)."""
    from middle import __version__
    from middle.system.skills import drifted, skill_files, skill_of

    mode = str(config["epic_store"].get("mode", "file"))
    if not any((repo / path).is_file() for path in skill_files(mode)):
        return Check("ok", "skills", "none in this repository (middle init writes them)")
    stale = drifted(repo, mode)
    if not stale:
        return Check("ok", "skills", f"as middle {__version__} writes them")
    names = sorted({skill_of(path) for path in stale})
    return Check(
        "warn",
        "skills",
        f"{', '.join(names)} differ from middle {__version__}'s ({', '.join(stale)}); run "
        f"middle init --upgrade-skills (it keeps a copy you edited: merge those by hand)",
    )


def check_issue_store(repo: Path, config: dict[str, Any]) -> list[Check]:
    """What the repo's issue store checks about itself. Plugins that fail to load are the
    agents check's to report, an unknown mode the config check's."""
    try:
        registry = load_plugins(repo).registry
    except MiddleError:
        return []
    if config["epic_store"].get("mode") not in registry.issue_stores:
        return []
    try:
        return registry.issue_store(repo, config).doctor_checks()
    except MiddleError as exc:
        return [Check("fail", "issue store", str(exc))]


def check_python() -> Check:
    """Which interpreter middle runs on (the package itself refuses anything below 3.11)."""
    return Check("ok", "python", f"{'.'.join(map(str, sys.version_info[:3]))} ({sys.executable})")


def check_tmux() -> Check:
    found = check_tool("tmux", ["tmux", "-V"])
    if found.verdict != "ok":
        return found
    match = re.search(r"(\d+)\.(\d+)", found.detail)
    if match and (int(match[1]), int(match[2])) < (3, 0):
        return Check("warn", "tmux", f"{found.detail}; middle is tested with tmux 3.0 or newer")
    return found


_CREDENTIAL = re.compile(r"TOKEN|KEY|SECRET|PASS|AUTH|CREDENTIAL|^MIDDLE_", re.I)


def check_tmux_server(tmux: Tmux) -> Check:
    """Every agent can read its tmux server's environment: a server middle starts holds
    only the allow-list, but one started by an older middle or by a person may hold more.
    Names only, never values."""
    where = shlex.join(tmux.base)
    if tmux.server_environment() is None:
        return Check("ok", "tmux server", f"{where}: not running (middle starts it)")
    stray = tmux.stray_environment()
    if not stray:
        return Check("ok", "tmux server", f"{where}: holds only the allow-listed environment")
    stray.sort(key=lambda name: _CREDENTIAL.search(name) is None)  # the likely secrets first
    shown = ", ".join(stray[:8]) + (f" and {len(stray) - 8} more" if len(stray) > 8 else "")
    return Check(
        "warn",
        "tmux server",
        f"{where} holds {shown} in its environment, which every agent on it can read; "
        f"once no run is live, restart it: {where} kill-server",
    )


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
            continue
        checks.append(check_agent_version(label, adapter))
        account = adapter.account(os.environ)
        if account is not None:
            ready, how = account
            checks.append(Check("ok" if ready else "warn", f"{label} account", how))
    return checks


def check_agent_version(label: str, adapter: BaseAdapter) -> Check:
    where = shutil.which(adapter.argv()[0]) or adapter.argv()[0]
    if adapter.tested_versions is None:
        return Check("ok", label, f"found at {where}")
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
    return Check("ok", label, f"version {found} (tested: {tested}) at {where}")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_home(home: Path) -> Check:
    """The home is writable, and private: 0700, and 0600 for the database files holding
    session tokens. middle tightens them whenever it opens them; what doctor finds looser
    (before its own open, or where middle may not change the mode) it reports with the fix."""
    try:
        fd, probe = tempfile.mkstemp(dir=home, prefix=".doctor-")
    except OSError as exc:
        cause = unwritable(home) or exc.strerror
        return Check(
            "fail", "home", f"middle cannot write its home: {cause}; make it writable by you"
        )
    os.close(fd)
    os.unlink(probe)
    loose = [why for why in map(loose_mode, [home, *database_files(db_path(home))]) if why]
    if loose:
        return Check("warn", "home", "; ".join(loose) + ": others can read session tokens")
    return Check("ok", "home", f"{home} (writable, private)")


def check_config(home: Path, repo: Path | None = None) -> Check:
    """The same schema check `load_config` makes, listing every problem, or else every
    key of the reference's config that middle ignores."""
    try:
        config, problems, ignored = load_config_checked(home, repo)
    except MiddleError as exc:
        return Check("fail", "config", str(exc))
    problems += unknown_plugin_names(config, repo)
    if problems:
        return Check("fail", "config", "\n  ".join(problems))
    if ignored:  # the reference's keys that mean nothing here: one line each
        return Check("warn", "config", "\n  ".join(ignored))
    sources = [home / "config.toml"]
    if repo is not None:
        sources.append(repo / ".middle" / "policy.toml")
    found = [str(source) for source in sources if source.exists()]
    return Check("ok", "config", ", ".join(found) or "defaults (no config files)")


def unknown_plugin_names(config: dict[str, Any], repo: Path | None) -> list[str]:
    """Default adapters and an issue store mode that no plugin registers (the schema
    cannot know the plugins)."""
    try:
        registry = load_plugins(repo).registry
    except MiddleError:
        return []  # the plugins check reports it
    known = registry.adapters
    named = [(table, config[table].get("default_adapter")) for table in ("global", "repo")]
    problems = [
        f"[{table}] default_adapter = {name!r}: expected one of {', '.join(sorted(known))}"
        for table, name in named
        if isinstance(name, str) and name and name not in known  # else the schema said
    ]
    fallback = config["global"].get("adapter_fallback")
    problems += [
        f"[global] adapter_fallback names {name!r}: expected one of {', '.join(sorted(known))}"
        for name in (fallback if isinstance(fallback, list) else ())
        if isinstance(name, str) and name and name not in known
    ]
    mode = config["epic_store"].get("mode")
    if isinstance(mode, str) and mode not in registry.issue_stores:
        problems.append(
            f"[epic_store] mode = {mode!r}: expected one of "
            f"{', '.join(sorted(registry.issue_stores))}"
        )
    return problems


def check_database(home: Path) -> Check:
    """The database opens, passes SQLite's integrity check, is at the latest schema, and
    middle may write it (a read-only file opens and reads fine, then fails every write)."""
    path = db_path(home)
    try:
        db = open_db(path)
    except MiddleError as exc:
        return Check("fail", "database", str(exc))
    try:
        integrity = integrity_check(db)
        version = schema_version(db) if integrity == "ok" else None
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
    causes = [cause for cause in map(unwritable, database_files(path)) if cause]
    if causes:
        return Check("fail", "database", f"middle cannot write it: {causes[0]}")
    return Check("ok", "database", f"{path} (schema v{version}, integrity ok)")
