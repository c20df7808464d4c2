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
opencode.json`); a key it names as `{env:VAR}` must be passed with `env_pass`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from middle.agents.acp import AcpAdapter
from middle.agents.base import BaseAdapter

# Set for the agent: no self-update mid-run, and no session shared to opencode.ai.
AGENT_ENV = ("OPENCODE_DISABLE_AUTOUPDATE=1", "OPENCODE_DISABLE_SHARE=1")


class OpenCodeAdapter(AcpAdapter):
    name: ClassVar[str] = "opencode"
    defaults: ClassVar[dict[str, Any]] = {"argv": ["opencode", "acp"]}
    env_allow: ClassVar[tuple[str, ...]] = ("OPENCODE_*",)
    tested_agents: ClassVar[dict[str, str]] = {"opencode": "1.18.33"}

    def agent_command(self) -> list[str]:
        return ["env", *AGENT_ENV, *self.agent_argv()]

    def version(self) -> str | None:
        """`opencode --version`: quicker than starting it to ask."""
        return BaseAdapter.version(self)
