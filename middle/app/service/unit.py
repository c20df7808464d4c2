"""`middle service install`: hand `middle serve` to the supervisor the OS already has.

On Linux a systemd `--user` unit (`$XDG_CONFIG_HOME/systemd/user/middle.service`), on
macOS a launchd agent (`~/Library/LaunchAgents/middle.serve.plist`). Either runs this
middle's own interpreter (`sys.executable -m middle serve`) with MIDDLE_HOME and the
installing shell's PATH (so it finds the same tmux, gh and agent CLIs), restarts it when it
fails, and starts it at login. middle writes the file and prints how to enable it; it never
runs systemctl or launchctl itself. A file middle did not write (it lacks `MARKER`) is
refused unless --force: it is someone's own service.
"""

from __future__ import annotations

import os
import plistlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from middle.app.service.daemon import serve_argv
from middle.app.service.pidfile import log_path
from middle.config import middle_home
from middle.errors import ServiceError

MARKER = "written by `middle service install`"
UNIT_NAME = "middle.service"
LAUNCHD_LABEL = "middle.serve"
_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


@dataclass(frozen=True)
class Installed:
    path: Path
    enable: str  # the command that enables and starts it
    notes: list[str] = field(default_factory=list)


def install_service(
    repo: str, dashboard_port: int | None, *, force: bool = False, platform: str = sys.platform
) -> Installed:
    home = middle_home()
    argv = serve_argv(repo, dashboard_port)
    workdir = Path(repo).resolve()
    environment = {"MIDDLE_HOME": str(home), "PATH": os.environ.get("PATH", os.defpath)}
    notes = [
        "it runs with MIDDLE_HOME and this shell's PATH only: gh uses its stored login "
        "(gh auth login), and agents their own, not exported tokens",
    ]
    if platform == "darwin":
        path = Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        content = render_launchd_plist(argv, environment, workdir, log_path(home))
        enable = f"launchctl load -w {path}"
    else:
        path = systemd_user_dir() / UNIT_NAME
        content = render_systemd_unit(argv, environment, workdir).encode()
        enable = "systemctl --user daemon-reload && systemctl --user enable --now middle"
        notes.append("its output: journalctl --user -u middle, and " + str(log_path(home)))
    _refuse_foreign(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return Installed(path, enable, notes)


def systemd_user_dir() -> Path:
    """Where systemd looks for a user's own units: `$XDG_CONFIG_HOME` (when absolute, as
    the XDG spec requires) or `~/.config`, then `systemd/user`."""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if os.path.isabs(config) else Path.home() / ".config"
    return base / "systemd" / "user"


def _refuse_foreign(path: Path, force: bool) -> None:
    if force or not path.exists():
        return
    if MARKER not in path.read_text(errors="replace"):
        raise ServiceError(
            f"{path} exists and middle did not write it; move it away, or pass --force "
            "to overwrite it"
        )


def render_systemd_unit(argv: list[str], environment: dict[str, str], workdir: Path) -> str:
    exec_start = " ".join(_systemd_word(part, dollars=True) for part in argv)
    env = " ".join(_systemd_word(f"{k}={v}", dollars=False) for k, v in environment.items())
    return (
        f"# {MARKER}; it rewrites this file while this line is here.\n"
        "[Unit]\n"
        "Description=middle: dispatch and watch coding agents (middle serve)\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        f"WorkingDirectory={_specifiers(_checked(str(workdir)))}\n"
        f"Environment={env}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _checked(text: str) -> str:
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ServiceError(
            f"{text!r} holds a control character, which a unit file cannot carry; "
            "use a path without one"
        )
    return text


def _specifiers(text: str) -> str:
    return text.replace("%", "%%")  # systemd's specifiers (%h, %u) start with %


def _systemd_word(text: str, *, dollars: bool) -> str:
    """One word of ExecStart= or Environment=, as systemd splits them: quoted when it holds
    anything but plain characters, `%` doubled, and in ExecStart `$` doubled (systemd
    expands $VAR there)."""
    word = _specifiers(_checked(text))
    if dollars:
        word = word.replace("$", "$$")
    if _PLAIN.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_launchd_plist(
    argv: list[str], environment: dict[str, str], workdir: Path, log: Path
) -> bytes:
    """The launchd agent: KeepAlive restarts it only when it did not exit cleanly (as
    Restart=on-failure), RunAtLoad starts it at login."""
    body = plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": argv,
            "EnvironmentVariables": environment,
            "WorkingDirectory": str(workdir),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "StandardOutPath": str(log),
            "StandardErrorPath": str(log),
        }
    )
    head, rest = body.split(b"<plist", 1)
    return head + f"<!-- {MARKER} -->\n".encode() + b"<plist" + rest
