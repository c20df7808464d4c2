"""OpenCode (`opencode-ai`), driven through its ACP mode (`opencode acp`).

OpenCode has three ways in: its TUI, a headless HTTP server (`opencode serve`, with
`attach`), and the Agent Client Protocol on stdio. middle uses ACP, under the same
supervisor as the `acp` adapter: the end of a turn is the `session/prompt` response rather
than a redrawn screen, a permission is a typed request with OpenCode's own options, and
`session/load` continues the conversation, with no port to pick or keep. What this
adapter adds to `[adapters.acp] argv = ["opencode", "acp"]`: it is the default command,
OpenCode's own variables pass the env allow-list, auto-update and sharing are off for the
agent, and the version is held to the one tested.

The model and its provider are the user's OpenCode config (`~/.config/opencode/
opencode.json`); a key it names as `{env:VAR}` passes the env allow-list, as if named in
`env_pass`. Only the user's own config counts: a repository's `opencode.json` is the
repository's text, and must not choose which of the user's secrets the agent gets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from middle.agents.acp import AcpAdapter
from middle.agents.base import BaseAdapter

# `{env:NAME}` in OpenCode's config: the value of that variable.
_ENV_REFERENCE = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# Set for the agent: no self-update mid-run, and no session shared to opencode.ai.
AGENT_ENV = ("OPENCODE_DISABLE_AUTOUPDATE=1", "OPENCODE_DISABLE_SHARE=1")


class OpenCodeAdapter(AcpAdapter):
    name: ClassVar[str] = "opencode"
    defaults: ClassVar[dict[str, Any]] = {"argv": ["opencode", "acp"]}
    env_allow: ClassVar[tuple[str, ...]] = ("OPENCODE_*",)
    tested_agents: ClassVar[dict[str, str]] = {"opencode": "1.18.33"}

    def account(self, environ: Mapping[str, str]) -> tuple[bool, str] | None:
        """OpenCode's own login (`opencode auth login`), or a provider in the user's
        config whose `{env:NAME}` key is set."""
        home = Path(environ.get("HOME") or Path.home())
        data = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
        logins = data / "opencode" / "auth.json"
        if logins.is_file():
            return True, f"logged in ({logins})"
        keys = [name for name in config_env_names() if environ.get(name)]
        if keys:
            return True, f"a provider in your OpenCode config, with {', '.join(keys)} set"
        return False, "no provider: run `opencode auth login`, or add one to its config"

    def agent_command(self) -> list[str]:
        return ["env", *AGENT_ENV, *self.agent_argv()]

    def env_patterns(self) -> tuple[str, ...]:
        return (*super().env_patterns(), *config_env_names())

    def version(self) -> str | None:
        """`opencode --version`: quicker than starting it to ask."""
        return BaseAdapter.version(self)


def user_configs() -> list[Path]:
    """The user's OpenCode config files: `$OPENCODE_CONFIG`, and `opencode.json(c)` or
    `config.json` in `$XDG_CONFIG_HOME/opencode` (`~/.config/opencode`)."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "opencode"
    paths = [base / name for name in ("opencode.json", "opencode.jsonc", "config.json")]
    if os.environ.get("OPENCODE_CONFIG"):
        paths.insert(0, Path(os.environ["OPENCODE_CONFIG"]))
    return paths


def config_env_names() -> list[str]:
    """The variables the user's OpenCode config reads (`{env:NAME}`), in order, once each."""
    names: dict[str, None] = {}
    for path in user_configs():
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        names.update(dict.fromkeys(_ENV_REFERENCE.findall(text)))
    return list(names)
