"""What a live session reads from its hooks, with Codex's own notify payloads."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from middle.agents.claude import ClaudeAdapter
from middle.agents.codex import CodexAdapter
from middle.config import DEFAULTS
from middle.engine import StepContext, step
from middle.steps.session import AgentSession, TurnRecord, _dialog_excerpt
from middle.system.tmux import Tmux
from middle.system.worktree import spool_dir
from middle.testing import StepHarness

SCREENS = Path(__file__).parent / "fixtures" / "screens"  # real panes, see its README


def spool(worktree: Path, name: str, payload: dict[str, object], event: str = "Stop") -> None:
    folder = spool_dir(worktree)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"{event}\ntoken\n{json.dumps(payload)}")


def test_codex_title_notify_is_not_what_the_agent_said(
    middle_harness: StepHarness, tmp_path: Path
) -> None:
    """Codex notifies for its thread-title request too, and that notify may come after the
    turn's own. Seen red in the real-CLI suite, and here without the fix: `status` said
    the agent last said `{"title": "Scripted task"}`."""
    worktree = tmp_path / "worktree"
    spool(worktree, "1000000000-1.hook", {
        "type": "agent-turn-complete", "turn-id": "t1", "input-messages": ["Fix it"],
        "last-assistant-message": "Asked.",
    })  # fmt: skip
    spool(worktree, "2000000000-2.hook", {
        "type": "agent-turn-complete", "turn-id": "t2",
        "input-messages": ["Generate a concise title for this task"],
        "last-assistant-message": '{"title": "Scripted task"}',
    })  # fmt: skip
    middle_harness.use_services(adapter=CodexAdapter({}))

    @step("read-hooks")
    def read_hooks(ctx: StepContext) -> str | None:
        ctx.runs.update(
            ctx.workflow_id, worktree_path=str(worktree), session_name="s", session_token="token"
        )
        session = AgentSession(ctx, TurnRecord(ctx))
        session.poll()
        return session.last_message

    result = middle_harness.run(read_hooks)
    assert result.results["read-hooks"] == "Asked."


def test_a_permission_excerpt_quotes_the_prompt_not_a_command_that_holds_its_words() -> None:
    """With no PreToolUse text, the permission question quotes the lines above the prompt's
    question. Seen red: a command holding "Do you want to proceed?" cut the quote at the
    command's copy, above the command itself."""
    real = (SCREENS / "claude-permission-dialog-phrases.txt").read_text()
    pane = real.replace("Yes, I accept", "Do you want to proceed?")
    excerpt = _dialog_excerpt(pane)
    assert "Bash command / printf 'Yes, I trust this folder" in excerpt
    assert excerpt.endswith("> proof.txt / Run a scripted command")


@pytest.mark.parametrize(
    ("pane", "excerpt"),
    [
        ("claude-permission-write", "Create file / notes.txt / 1 hello notes"),
        ("claude-permission-edit", "Edit file / README.md / 1 -# demo / 1 +# demo, edited"),
        ("claude-permission-fetch", 'Fetch / url: "https://example.com/page", prompt: '
         '"Summarise it" / Claude wants to fetch content from example.com'),
    ],
)  # fmt: skip
def test_a_permission_excerpt_names_what_any_prompt_asks_about(pane: str, excerpt: str) -> None:
    """Real Write, Edit and WebFetch prompts, which do not ask "Do you want to proceed?".
    Seen red (the old excerpt, keyed on that line): "(see the session)", for with no such
    line it took the screen's last 8 lines, all blank."""
    assert _dialog_excerpt((SCREENS / f"{pane}.txt").read_text()) == excerpt


def test_a_long_permission_excerpt_keeps_the_prompts_title_and_subject() -> None:
    """A Write of a long file shows its lines on the prompt: the excerpt keeps the file's
    name. Seen red (the old excerpt, given this question as its marker): the last 8 lines
    above the question, the file's last 7 lines and a dashed rule."""
    pane = (SCREENS / "claude-permission-write.txt").read_text()
    lines = "\n".join(f"  {n} line {n}" for n in range(1, 41))
    excerpt = _dialog_excerpt(pane.replace("  1 hello notes", lines))
    assert excerpt == "Create file / notes.txt / \u2026 / " + " / ".join(
        f"{n} line {n}" for n in range(36, 41)
    )


def drive_until_stop(
    middle_harness: StepHarness, worktree: Path, screen: str, *hooks: tuple[str, dict[str, Any]]
) -> list[Any]:
    """A Claude session showing `screen` (a real tmux pane) and the `hooks` it sent after
    the prompt; the stop `wait_for_stop` reads, as [kind, question_kind, question]."""
    shown = worktree / "screen.txt"
    worktree.mkdir(parents=True)
    shown.write_text(screen)
    Tmux().new_session("s", worktree, ["sh", "-c", f"cat {shown}; exec sleep 600"])
    prompted = time.time()
    for number, (event, payload) in enumerate(hooks):
        sent = time.time_ns() if event != "stale" else int((prompted - 60) * 1e9)
        event = "Notification" if event == "stale" else event
        spool(worktree, f"{sent}-{number}.hook", payload, event)
    config = copy.deepcopy(DEFAULTS)
    config["limits"]["turn_timeout_seconds"] = 2  # for the red run: it waited this long
    middle_harness.use_services(adapter=ClaudeAdapter({}), config=config)

    @step("drive")
    def drive(ctx: StepContext) -> list[Any]:
        ctx.runs.update(
            ctx.workflow_id, worktree_path=str(worktree), session_name="s", session_token="token"
        )
        session = AgentSession(ctx, TurnRecord(ctx))
        session.remember(launched_epoch=prompted - 1, prompted_epoch=prompted - 0.5)
        stop = session.wait_for_stop()
        return [stop.kind, stop.question_kind, stop.question]

    return list(middle_harness.run(drive).results["drive"])


PERMISSION = {"notification_type": "permission_prompt", "message": "Claude needs your permission"}
WRITE = {"tool_name": "Write", "tool_input": {"file_path": "/w/notes.txt", "content": "x"}}
UNKNOWN_PROMPT = " Save notes.txt?\n   Sure\n   Not now\n"  # no shape middle knows


def test_claudes_permission_notification_parks_a_prompt_of_any_shape(
    middle_harness: StepHarness, tmp_path: Path, tmux_socket: str
) -> None:
    """Claude sends `Notification` `permission_prompt` about 6 s into any permission
    prompt: one middle cannot read by its shape parks all the same, named by PreToolUse.
    Seen red: the run waited for the turn timeout, then was a bare stop."""
    stop = drive_until_stop(
        middle_harness, tmp_path / "w", UNKNOWN_PROMPT, ("PreToolUse", WRITE),
        ("Notification", PERMISSION),
    )  # fmt: skip
    assert stop[:2] == ["asked-question", "permission"]
    assert stop[2].startswith("The agent asks permission to run Write: /w/notes.txt\n")


def test_a_permission_notification_of_an_earlier_prompt_parks_nothing(
    middle_harness: StepHarness, tmp_path: Path, tmux_socket: str
) -> None:
    """A Notification sent before the latest prompt is about a prompt already answered."""
    stop = drive_until_stop(middle_harness, tmp_path / "w", UNKNOWN_PROMPT, ("stale", PERMISSION))
    assert stop[:2] == ["bare-stop", "question"]


@pytest.mark.parametrize(
    ("screen", "nudged"),
    [(UNKNOWN_PROMPT, False), ((SCREENS / "claude-ready.txt").read_text(), True)],
    ids=["unknown-prompt", "input-box"],
)
def test_a_nudge_goes_only_to_the_input_box(
    middle_harness: StepHarness, tmp_path: Path, tmux_socket: str, screen: str, nudged: bool
) -> None:
    """A nudge ends with Enter, and Enter on a prompt middle could not read chooses its
    first option, "Yes". A bare stop on any screen but the input box is not nudged (the
    run parks for a human). Seen red: can_nudge said yes to the unknown prompt, and the
    real Claude's Write prompt was answered by the nudge's Enter (the editperm red run)."""
    worktree = tmp_path / "w"
    stop = drive_until_stop(middle_harness, worktree, screen)
    assert stop[0] == "bare-stop"

    @step("nudge?")
    def ask(ctx: StepContext) -> bool:
        ctx.runs.update(ctx.workflow_id, worktree_path=str(worktree), session_name="s")
        return AgentSession(ctx, TurnRecord(ctx)).can_nudge()

    assert middle_harness.run(ask).results["nudge?"] is nudged
