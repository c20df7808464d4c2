"""How an agent process starts: an allow-listed environment, and nothing secret in `argv`.

tmux runs the agent under its server, whose environment is whatever process started the
server, so the agent would inherit everything (`GH_TOKEN`, cloud keys, middle's own
settings). Instead middle writes the agent's whole environment to a private file, and a
tiny launcher (Python in isolated mode, no site imports) reads it, deletes it and execs
the CLI with exactly that environment. The session token is in that environment, never
on a command line, where `ps` shows it to every user of the machine.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from middle.worktree import env_file

# What any CLI needs to run as the user: identity, paths, locale, proxies and CA files.
BASE_ENV = (
    "HOME", "USER", "LOGNAME", "PATH", "SHELL", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR",
    "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "SSH_AUTH_SOCK",
)  # fmt: skip

# Read by the launcher from its own environment, which is the tmux pane's.
_PANE_ENV = ("TERM", "COLORTERM", "TMUX", "TMUX_PANE")

LAUNCHER = """\
import json, os, sys
path = sys.argv[1]
with open(path) as handle:
    env = json.load(handle)
os.unlink(path)
env.update({k: os.environ[k] for k in %r if k in os.environ})
os.execvpe(sys.argv[2], sys.argv[2:], env)
""" % (_PANE_ENV,)  # noqa: UP031 (a literal tuple, spelled as Python)


def agent_environment(
    source: Mapping[str, str], patterns: Iterable[str], hook_vars: Mapping[str, str]
) -> dict[str, str]:
    """The variables of `source` that `BASE_ENV` or `patterns` allow (`NAME` or a `PREFIX*`
    glob), plus the hook variables. `MIDDLE_*` from `source` never pass: those are middle's."""
    allowed = (*BASE_ENV, *patterns)
    env = {
        name: value
        for name, value in source.items()
        if not name.startswith("MIDDLE_")
        and any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed)
    }
    return {**env, **hook_vars}


def launch_argv(worktree: Path, argv: list[str], env: Mapping[str, str]) -> list[str]:
    """Write `env` where only this user can read it; return the argv that starts `argv`
    with exactly that environment."""
    path = env_file(worktree)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a leftover from a launch that never ran
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dict(env), handle)
    return [sys.executable, "-I", "-S", "-c", LAUNCHER, str(path), *argv]
