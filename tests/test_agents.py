"""Adapters: stop classification in DESIGN.md's order, rate limits, hook configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from middle.agents import get_adapter
from middle.agents.base import UNAVAILABLE_QUESTION, BaseAdapter
from middle.config import DEFAULTS
from middle.errors import AgentError, ConfigError

LIMIT = "Claude usage limit reached. Your limit will reset at 3pm (Europe/Paris)."


def write(worktree: Path, **sentinels: str) -> Path:
    (worktree / ".middle").mkdir(exist_ok=True)
    for name, text in sentinels.items():
        (worktree / ".middle" / f"{name}.json").write_text(text)
    return worktree


@pytest.mark.parametrize(
    ("sentinels", "transcript", "kind"),
    [
        ({"blocked": '{"question": "q"}', "done": "{}"}, LIMIT, "asked-question"),
        ({"done": "{}"}, LIMIT, "rate-limited"),
        ({"done": "{}", "failed": '{"reason": "r"}'}, "", "done"),
        ({"failed": '{"reason": "r"}'}, "", "failed"),
        ({}, "all good", "bare-stop"),
    ],
)
def test_stops_are_classified_in_order(
    tmp_path: Path, sentinels: dict[str, str], transcript: str, kind: str
) -> None:
    adapter = BaseAdapter({})
    assert adapter.classify_stop(write(tmp_path, **sentinels), transcript).kind == kind


@pytest.mark.parametrize(
    ("blocked", "question", "kind"),
    [
        ('{"question": "Which DB?", "kind": "complexity"}', "Which DB?", "complexity"),
        ('{"question": "Which DB?", "kind": "weird"}', "Which DB?", "question"),
        ("{not json", UNAVAILABLE_QUESTION, "question"),
        ('["a list"]', UNAVAILABLE_QUESTION, "question"),
        ('{"question": 42}', UNAVAILABLE_QUESTION, "question"),
    ],
)
def test_sentinel_parsing_is_tolerant(
    tmp_path: Path, blocked: str, question: str, kind: str
) -> None:
    stop = BaseAdapter({}).classify_stop(write(tmp_path, blocked=blocked), "")
    assert (stop.kind, stop.question, stop.question_kind) == ("asked-question", question, kind)


@pytest.mark.parametrize(
    ("text", "reset"),
    [
        (LIMIT, "3pm (Europe/Paris)"),
        ("5-hour limit reached ∙ resets 11pm", "11pm"),
        ("Rate limit reached.", ""),
        ("we talked about rate limits in general", None),
    ],
)
def test_usage_limit_messages(text: str, reset: str | None) -> None:
    assert BaseAdapter({}).detect_rate_limit(text) == reset


def test_claude_hooks_go_to_local_settings_and_call_the_relay(tmp_path: Path) -> None:
    adapter = get_adapter("claude", DEFAULTS)
    adapter.install_hooks(tmp_path)
    settings = json.loads((tmp_path / ".claude" / "settings.local.json").read_text())
    command = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
    assert command.endswith(".middle/hooks/hook.sh Stop")
    assert (tmp_path / ".middle" / "hooks" / "hook.sh").exists()
    argv, _ = adapter.build_launch_command(tmp_path)
    assert argv == ["claude", "--permission-mode", "auto"]


def test_codex_sets_its_notify_hook_at_launch(tmp_path: Path) -> None:
    adapter = get_adapter("codex", DEFAULTS)
    argv, _ = adapter.build_launch_command(tmp_path)
    assert argv[:2] == ["codex", "-c"]
    assert json.loads(argv[2].removeprefix("notify=")) == [
        str(tmp_path / ".middle" / "hooks" / "hook.sh"),
        "Stop",
    ]
    assert adapter.starts_session_on_first_prompt


def test_an_unknown_adapter_or_missing_binary_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown adapter 'gpt'; middle knows claude"):
        get_adapter("gpt", DEFAULTS)
    with pytest.raises(AgentError, match="the command adapter has no command configured"):
        get_adapter("command", DEFAULTS).check_available()
