"""The adapter conformance suite (`middle.testing.conformance`, issue 22 item 5) against
every built-in adapter's real, pinned CLI, through the scripted model server: Claude Code,
Codex, Copilot, Gemini, OpenCode, and the `acp` adapter with codex-acp, claude-code-acp and
`gemini --acp`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from middle.testing.conformance import *  # noqa: F403
from tests.real_agents.conformance_agents import AGENTS, ModelBackedAgent


@pytest.fixture(params=list(AGENTS))
def middle_agent(
    request: pytest.FixtureRequest, tmp_path: Path, agent_bin: Path
) -> Iterator[ModelBackedAgent]:
    with ModelBackedAgent(str(request.param), tmp_path / "agent", agent_bin) as agent:
        yield agent
