"""The built-in adapters as conformance agents (`middle.testing.conformance`): each real CLI,
in a private home, pointed at the scripted model server, which plays the suite's turns.

`AGENTS` names every built-in adapter's real CLI as the suite runs it: its adapter, the
environment its user set up before using middle (the per-CLI builders), the repo's policy
for it, and the 429 its own provider answers when the usage limit is reached. The
per-adapter test files take their setup from here too.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from middle.testing.conformance import Ask, ConformanceSandbox, Slow, Turn, UsageLimit
from tests.fakes.model_gemini import daily_quota_turn
from tests.fakes.model_server import ModelServer
from tests.real_agents.copilot_env import copilot_env
from tests.real_agents.gemini_env import gemini_env
from tests.real_agents.harness import claude_env, codex_env
from tests.real_agents.harness_opencode import opencode_env

GIT_AS_AGENT = "git -c user.name=agent -c user.email=agent@example.com"


def write_json(path: str, value: dict[str, Any]) -> str:
    return f"printf '%s' {shlex.quote(json.dumps(value))} > {path}"


def done(note: str = "work") -> dict[str, Any]:
    """The model commits its work and says it is done."""
    return {
        "run": [
            f"echo {note} >> AGENT_WORK.md && {GIT_AS_AGENT} add AGENT_WORK.md "
            f"&& {GIT_AS_AGENT} commit -qm {shlex.quote(note)}",
            write_json(".middle/done.json", {"summary": note}),
        ],
        "say": "Done.",
    }


def ask(question: str) -> dict[str, Any]:
    return {"run": [write_json(".middle/blocked.json", {"question": question})], "say": "Asked."}


# -- each provider's 429 when the usage limit is reached ---------------------------------


def anthropic_limit(reset: int) -> dict[str, Any]:
    return {"error": 429, "message": f"Claude AI usage limit reached|{reset}"}


def openai_limit(reset: int) -> dict[str, Any]:
    return {
        "error": 429,
        "type": "usage_limit_reached",
        "message": "The usage limit has been reached",
        "fields": {"resets_at": reset},
    }


def copilot_limit(reset: int) -> dict[str, Any]:
    """Copilot's provider names no reset time (middle waits an hour)."""
    return {"error": 429, "type": "usage_limit_reached", "message": "usage limit reached"}


def gemini_limit(reset: int) -> dict[str, Any]:
    """A daily quota (Gemini retries any other 429 for minutes); no reset time either."""
    return daily_quota_turn("Quota exceeded for quota metric Generate requests per day")


def chat_limit(reset: int) -> dict[str, Any]:
    """An OpenAI-compatible provider's rate limit, as OpenCode's custom provider gets it."""
    return {"error": 429, "type": "rate_limit_exceeded", "message": "Rate limit reached"}


# -- each CLI -------------------------------------------------------------------------------

EnvBuilder = Callable[[Path, str, Path, Path], dict[str, str]]  # (root, url, repo, bin)


# Each ACP agent: its command, the ACP mode that lets it run commands with no permission
# asked (codex-acp's "auto" sandboxes them with bubblewrap), and what it needs from the
# user's environment.
ACP_BRIDGES: dict[str, tuple[list[str], str, tuple[str, ...]]] = {
    "codex-acp": (["codex-acp"], "full-access", ("CODEX_HOME", "SCRIPTED_MODEL_API_KEY")),
    "claude-code-acp": (
        ["claude-code-acp"],
        "bypassPermissions",
        ("ANTHROPIC_*", "CLAUDE_CODE_*", "DISABLE_*", "IS_SANDBOX"),
    ),
    # Gemini refuses yolo in a folder it does not trust; `--skip-trust` trusts the worktree.
    "gemini-acp": (
        ["gemini", "--acp", "--skip-trust"],
        "yolo",
        ("GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"),
    ),
}


def acp_policy(bridge: str, mode: str | None = "") -> str:
    """`[adapters.acp]` running `bridge` (a key of `ACP_BRIDGES`) in its no-questions mode,
    or in `mode` (None: the agent's own default)."""
    argv, default_mode, env_pass = ACP_BRIDGES[bridge]
    table: dict[str, Any] = {"argv": argv}
    if mode is not None:
        table["mode"] = mode or default_mode
    table["env_pass"] = list(env_pass)
    return "[adapters.acp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())


@dataclass(frozen=True)
class RealCli:
    """How one built-in adapter's real CLI is set up, as its user would."""

    adapter: str
    environment: EnvBuilder
    usage_limit: Callable[[int], dict[str, Any]]
    policy: str = ""


def _untrusting(build: Callable[[Path, str, Path], dict[str, str]]) -> EnvBuilder:
    """A builder whose CLI trusts no repo of the user's (middle sets trust per worktree)."""
    return lambda root, url, repo, bin_dir: build(root, url, bin_dir)


AGENTS: dict[str, RealCli] = {
    # No permission prompts: middle answers Claude's bypass-mode dialog at start-up.
    "claude": RealCli(
        "claude",
        claude_env,
        anthropic_limit,
        '[adapters.claude]\npermission_mode = "bypassPermissions"\n',
    ),
    # No env_pass for Codex's key: middle passes the env_key its config names.
    "codex": RealCli("codex", codex_env, openai_limit),
    "copilot": RealCli("copilot", _untrusting(copilot_env), copilot_limit),
    "gemini": RealCli("gemini", _untrusting(gemini_env), gemini_limit),
    # No env_pass: the key variable the user's config names passes by itself.
    "opencode": RealCli("opencode", _untrusting(opencode_env), chat_limit),
    "codex-acp": RealCli("acp", codex_env, openai_limit, acp_policy("codex-acp")),
    "claude-code-acp": RealCli("acp", claude_env, anthropic_limit, acp_policy("claude-code-acp")),
    "gemini-acp": RealCli("acp", _untrusting(gemini_env), gemini_limit, acp_policy("gemini-acp")),
}


class ModelBackedAgent:
    """A built-in adapter's real CLI (a key of `AGENTS`) behind the scripted model server."""

    def __init__(self, cli: str, root: Path, bin_dir: Path) -> None:
        self.cli, self.root, self.bin_dir = AGENTS[cli], root, bin_dir
        self.adapter = self.cli.adapter
        self.server = ModelServer([done()])

    def __enter__(self) -> ModelBackedAgent:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(None, None, None)

    def environment(self, sandbox: ConformanceSandbox) -> dict[str, str]:
        return self.cli.environment(self.root, self.server.url, sandbox.repo, self.bin_dir)

    def policy(self) -> str:
        return self.cli.policy

    def script(self, *turns: Turn) -> None:
        self.server.turns[:] = [self.turn(turn) for turn in turns]

    def turn(self, turn: Turn) -> dict[str, Any]:
        if isinstance(turn, Ask):
            return ask(turn.question)
        if isinstance(turn, UsageLimit):
            return self.cli.usage_limit(turn.reset)
        if isinstance(turn, Slow):
            finish = done(turn.note)
            return {**finish, "run": [f"sleep {turn.seconds:g}", *finish["run"]]}
        return done(turn.note)

    def conversations(self) -> list[list[str]]:
        return self.server.conversations()
