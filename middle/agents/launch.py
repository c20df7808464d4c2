"""How an agent process starts: an allow-listed environment, and nothing secret in `argv`.

The agent runs under middle's tmux server, which holds only `BASE_ENV` (see
`middle.system.tmux`). What the agent gets beyond that (its adapter's `env_allow`, the config's
`env_pass`, the hook variables) goes to that agent alone: middle writes its whole
environment to a private file, and a tiny launcher (Python in isolated mode, no site
imports) reads it, deletes it and execs the CLI with exactly that environment. Not in
tmux's session environment, which any process on the server can read
(`tmux show-environment -t`), and not on a command line, where `ps` shows it to every user
of the machine. From the pane it keeps only the terminal's own variables: not `TMUX`,
which would point the agent at the server.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from middle.system.tmux import BASE_ENV, allow_listed
from middle.system.worktree import env_file

# Read by the launcher from its own environment, which is the tmux pane's.
_PANE_ENV = ("TERM", "COLORTERM")

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
    return {**allow_listed(source, (*BASE_ENV, *patterns)), **hook_vars}


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
