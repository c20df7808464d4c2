"""`doctor`: check the toolchain and the state, one verdict per check."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from middle.config import db_path, load_config
from middle.errors import MiddleError
from middle.store import LATEST_VERSION, open_db, schema_version

Verdict = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    name: str
    detail: str


def run_checks(home: Path) -> list[Check]:
    """Every check, in the order a person would fix them."""
    return [
        check_python(),
        check_tool("git", ["git", "--version"]),
        check_tool("tmux", ["tmux", "-V"]),
        check_home(home),
        check_config(home),
        check_database(home),
    ]


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


def check_home(home: Path) -> Check:
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077:
        return Check(
            "warn",
            "home",
            f"{home} is mode {mode:o}; others can read session tokens (fix: chmod 700 {home})",
        )
    return Check("ok", "home", str(home))


def check_config(home: Path) -> Check:
    try:
        load_config(home)
    except MiddleError as exc:
        return Check("fail", "config", str(exc))
    source = home / "config.toml"
    return Check("ok", "config", str(source) if source.exists() else "defaults (no config.toml)")


def check_database(home: Path) -> Check:
    path = db_path(home)
    try:
        db = open_db(path)
    except MiddleError as exc:
        return Check("fail", "database", str(exc))
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
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
