"""The adapter conformance suite (`middle.testing.conformance`, issue 22 item 5) against the
bundled stand-in behind the `command` adapter: fast, and the suite's own check that its
tests pass for an adapter that does what middle needs. The built-in adapters run it against
their real CLIs in tests/real_agents/test_conformance.py.

Seen red: with the env allow-list bypassed (`agent_environment` passing middle's whole
environment), the secrets test failed naming GH_TOKEN, AWS_SECRET_ACCESS_KEY and
MIDDLE_CONFORMANCE_SECRET."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from middle.testing.conformance import *  # noqa: F403
from middle.testing.conformance import StandInAgent


@pytest.fixture
def middle_agent(tmp_path: Path) -> Iterator[StandInAgent]:
    yield StandInAgent(tmp_path / "standin")
