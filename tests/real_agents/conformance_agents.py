"""The built-in adapters as conformance agents (`middle.testing.conformance`): each real CLI,
in a private home, pointed at the scripted model server, which plays the suite's turns."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from middle.testing.conformance import Ask, ConformanceSandbox, Slow, Turn, UsageLimit
from tests.fakes.model_server import ModelServer
from tests.real_agents.harness import claude_env, codex_env

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


def usage_limit_turn(cli: str, reset: int) -> dict[str, Any]:
    """The API's refusal, as each CLI's own provider words it."""
    if cli == "claude":
        return {"error": 429, "message": f"Claude AI usage limit reached|{reset}"}
    return {
        "error": 429,
        "type": "usage_limit_reached",
        "message": "The usage limit has been reached",
        "fields": {"resets_at": reset},
    }


# No permission prompts: middle answers Claude's bypass-mode dialog at start-up.
POLICIES = {"claude": '[adapters.claude]\npermission_mode = "bypassPermissions"\n', "codex": ""}


class ModelBackedAgent:
    """A real CLI (`claude` or `codex`) behind the scripted model server."""

    def __init__(self, cli: str, root: Path, bin_dir: Path) -> None:
        self.adapter, self.root, self.bin_dir = cli, root, bin_dir
        self.server = ModelServer([done()])

    def __enter__(self) -> ModelBackedAgent:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(None, None, None)

    def environment(self, sandbox: ConformanceSandbox) -> dict[str, str]:
        make = claude_env if self.adapter == "claude" else codex_env
        return make(self.root, self.server.url, sandbox.repo, self.bin_dir)

    def policy(self) -> str:
        return POLICIES[self.adapter]

    def script(self, *turns: Turn) -> None:
        self.server.turns[:] = [self.turn(turn) for turn in turns]

    def turn(self, turn: Turn) -> dict[str, Any]:
        if isinstance(turn, Ask):
            return ask(turn.question)
        if isinstance(turn, UsageLimit):
            return usage_limit_turn(self.adapter, turn.reset)
        if isinstance(turn, Slow):
            finish = done(turn.note)
            return {**finish, "run": [f"sleep {turn.seconds:g}", *finish["run"]]}
        return done(turn.note)

    def conversations(self) -> list[list[str]]:
        return self.server.conversations()
