"""What `middle doctor` reports, one verdict per check, and the check every tool shares.

It lives below the layers that report checks (the issue stores' `doctor_checks`, the app's
doctor), so each can say what it needs without importing the other.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
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
