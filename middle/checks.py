"""What `middle doctor` reports, one verdict per check, and the checks every part shares:
a tool on PATH, and the mode of a private file.

It lives below the layers that report checks (the issue stores' `doctor_checks`, the app's
doctor), so each can say what it needs without importing the other.

Private files are the state home (0700) and what holds a session token (0600: the
database and its `-wal` and `-shm`, the hook spool). Whoever creates or opens one calls
`middle.system.files.make_private`, which only ever takes group and other bits away; what
it cannot change (another user's file, a read-only mount) is `loose_mode`'s to report in
doctor.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Verdict = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    name: str
    detail: str


def check_tool(name: str, version_argv: list[str]) -> Check:
    """Whether `name` is on PATH and answers `version_argv`; its version as the detail."""
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


def loose_mode(path: Path) -> str | None:
    """Why `path` is readable by others, with the chmod that fixes it; None when it is
    private (or does not exist)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if not mode & 0o077:
        return None
    fix = 0o700 if path.is_dir() else 0o600
    return f"{path} is mode {mode:o}, open to other users (fix: chmod {fix:o} {path})"


def unwritable(path: Path) -> str | None:
    """Why this process may not write `path` (or, while it does not exist, create it in its
    folder): a read-only mount, or its owner and mode. None when it may."""
    target = path if path.exists() else path.parent
    try:
        if os.statvfs(target).f_flag & os.ST_RDONLY:
            return f"{target} is on a read-only file system"
        if os.access(target, os.W_OK):
            return None
        info = target.stat()
    except OSError as exc:
        return f"{target}: {exc.strerror}"
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = f"uid {info.st_uid}"
    mode = stat.S_IMODE(info.st_mode)
    return f"{target} is not writable by you (owner {owner}, mode {mode:o})"
