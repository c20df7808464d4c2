"""What a live session reads from its hooks, with Codex's own notify payloads."""

from __future__ import annotations

import json
from pathlib import Path

from middle.agents.codex import CodexAdapter
from middle.engine import StepContext, step
from middle.steps.session import AgentSession, TurnRecord, _dialog_excerpt
from middle.system.worktree import spool_dir
from middle.testing import StepHarness


def spool(worktree: Path, name: str, payload: dict[str, object]) -> None:
    folder = spool_dir(worktree)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"Stop\ntoken\n{json.dumps(payload)}")


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
    real = Path(__file__).parent / "fixtures" / "screens" / "claude-permission-dialog-phrases.txt"
    pane = real.read_text().replace("Yes, I accept", "Do you want to proceed?")
    excerpt = _dialog_excerpt(pane, "Do you want to proceed?")
    assert "Bash command / printf 'Yes, I trust this folder" in excerpt
    assert excerpt.endswith("> proof.txt / Run a scripted command")
