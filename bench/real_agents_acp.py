"""The ACP agents for `bench.real_agents`: how each is set up in a benchmark sandbox (the
user's setup in fresh homes, and the repo's policy choosing its adapter). Each returns the
environment `middle` runs with."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import git
from tests.fakes.model_server import ModelServer
from tests.real_agents.harness import claude_env, codex_env
from tests.real_agents.harness_opencode import opencode_env

Configure = Callable[[Any, ModelServer, Path], dict[str, str]]


def _policy(box: Any, adapter: str, table: dict[str, Any]) -> None:
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())
    policy = box.repo / ".middle" / "policy.toml"
    policy.write_text(
        policy.read_text().replace('default_adapter = "command"', f'default_adapter = "{adapter}"')
        + f"\n[adapters.{adapter}]\n{lines}"
    )
    git(box.repo, "commit", "-qam", "policy")


def codex_acp(box: Any, server: ModelServer, bin_dir: Path) -> dict[str, str]:
    table = {"argv": ["codex-acp"], "mode": "full-access"}
    _policy(box, "acp", {**table, "env_pass": ["CODEX_HOME", "SCRIPTED_MODEL_API_KEY"]})
    return codex_env(box.root, server.url, box.repo, bin_dir)


def claude_code_acp(box: Any, server: ModelServer, bin_dir: Path) -> dict[str, str]:
    table = {"argv": ["claude-code-acp"], "mode": "bypassPermissions"}
    passed = ["ANTHROPIC_*", "CLAUDE_CODE_*", "DISABLE_*", "IS_SANDBOX"]
    _policy(box, "acp", {**table, "env_pass": passed})
    return claude_env(box.root, server.url, box.repo, bin_dir)


def opencode(box: Any, server: ModelServer, bin_dir: Path) -> dict[str, str]:
    _policy(box, "opencode", {})  # its config's {env:VAR} passes by itself
    return opencode_env(box.root, server.url, bin_dir)


ACP_AGENTS: dict[str, Configure] = {
    "acp (codex-acp)": codex_acp,
    "acp (claude-code-acp)": claude_code_acp,
    "opencode": opencode,
}
