"""Spikes: the raw Claude Code and Codex CLIs (not middle) in tmux against the scripted model
server, proving the facts middle's adapters rely on (tests/real_agents/FACTS.md).

Set REAL_AGENT_FACTS_LOG=<file> to collect the measured timings and pane texts as JSON lines.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.model_server import ModelServer
from tests.real_agents.conftest import Checkout
from tests.real_agents.harness import claude_env, codex_env
from tests.real_agents.terminal import Terminal, read_jsonl, wait_for

CLAUDE_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "Notification",
    "Stop",
    "StopFailure",
    "SessionEnd",
)
CODEX_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop")
MakeTerminal = Callable[[], Terminal]
# A lost Enter shows no sign in the pane; UserPromptSubmit is the only confirmation.
SUBMIT_WAIT = 1.5


def record(fact: str, value: Any) -> None:
    """Append a measured fact for FACTS.md (only when REAL_AGENT_FACTS_LOG is set)."""
    if path := os.environ.get("REAL_AGENT_FACTS_LOG"):
        with open(path, "a") as log:
            log.write(json.dumps({"fact": fact, "value": value}) + "\n")


def since(start: float) -> float:
    return round(time.monotonic() - start, 3)


def install_hooks(settings: Path, log: Path, events: tuple[str, ...]) -> None:
    """Hooks (Claude's settings format, which Codex's hooks.json shares) appending each
    payload as one JSON line to `log`."""
    command = f"cat >> {log}; echo >> {log}"
    hooks = {event: [{"hooks": [{"type": "command", "command": command}]}] for event in events}
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"hooks": hooks}, indent=2))


def hook(log: Path, event: str) -> list[dict[str, Any]]:
    return [payload for payload in read_jsonl(log) if payload["hook_event_name"] == event]


def skip_bypass_warning(env: dict[str, str]) -> None:
    """What middle must do for `--dangerously-skip-permissions`: without this user setting
    a "Bypass Permissions mode" warning dialog blocks the start."""
    settings = Path(env["HOME"]) / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"skipDangerousModePermissionPrompt": True}))


def start_claude(
    term: Terminal,
    env: dict[str, str],
    checkout: Checkout,
    log: Path,
    *flags: str,
    ready: bool = True,
) -> dict[str, Any]:
    install_hooks(checkout.worktree / ".claude" / "settings.local.json", log, CLAUDE_EVENTS)
    launched = term.start(["claude", *flags], env, checkout.worktree)
    session = wait_for(lambda: hook(log, "SessionStart"), 30, "SessionStart", term.pane)[0]
    record("claude.launch_to_session_start_s", since(launched))
    return session


def submit_prompt(term: Terminal, log: Path, text: str, attempts: int = 3) -> dict[str, Any]:
    """Paste `text` right at SessionStart and press Enter until UserPromptSubmit confirms it
    (the text stays in the box when an Enter is lost, so only Enter is repeated)."""
    pasted = time.monotonic()
    term.paste(text)
    for attempt in range(1, attempts + 1):
        try:
            submitted = wait_for(lambda: hook(log, "UserPromptSubmit"), SUBMIT_WAIT, "submit")
        except AssertionError:
            term.keys("Enter")
            continue
        record("claude.enters_needed", attempt)
        record("claude.paste_to_user_prompt_submit_s", since(pasted))
        return submitted[0]
    raise AssertionError(f"prompt not submitted after {attempts} Enters:\n{term.pane()}")


def test_claude_takes_a_pasted_prompt_and_runs_bash_in_the_worktree(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """(a) No dialog in a worktree of a trusted repo; a bracketed paste + 50 ms + Enter (+
    Enter again when UserPromptSubmit does not follow) is submitted once; Bash runs in the
    worktree; Stop fires."""
    log = tmp_path / "hooks.jsonl"
    with ModelServer([{"run": ["pwd > where.txt"], "say": "All done."}]) as server:
        env = claude_env(tmp_path, server.url, checkout.repo, agent_bin)
        skip_bypass_warning(env)
        term = terminal()
        start_claude(term, env, checkout, log, "--dangerously-skip-permissions")
        pasted = time.monotonic()
        submit = submit_prompt(term, log, "Please do the task")
        stop = wait_for(lambda: hook(log, "Stop"), 30, "Stop", term.pane)[0]
        record("claude.enter_to_stop_s", since(pasted))
    assert submit["prompt"] == "Please do the task"
    assert (checkout.worktree / "where.txt").read_text().strip() == str(checkout.worktree)
    assert stop["last_assistant_message"] == "All done."
    assert server.prompts() == ["Please do the task"]
    transcript = Path(stop["transcript_path"])
    project = re.sub(r"[^A-Za-z0-9]", "-", str(checkout.worktree))  # "_" too, not only "/"
    expected = Path(env["HOME"], ".claude", "projects", project, f"{stop['session_id']}.jsonl")
    assert transcript == expected and transcript.exists()


def big_prompt() -> str:
    """200 lines, 20 KB, with the characters a shell or a TUI could mangle."""
    lines = [f"{n:03d} $HOME `x` 'q' \"d\" \\ %s {{}} [ ] é — " + "w" * 60 for n in range(200)]
    return "\n".join(lines)


def test_claude_takes_a_20kb_200_line_prompt_byte_exact(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    log = tmp_path / "hooks.jsonl"
    prompt = big_prompt()
    assert len(prompt.encode()) > 20_000 and prompt.count("\n") == 199
    with ModelServer([{"say": "Read it."}]) as server:
        env = claude_env(tmp_path, server.url, checkout.repo, agent_bin)
        skip_bypass_warning(env)
        term = terminal()
        start_claude(term, env, checkout, log, "--dangerously-skip-permissions")
        submit = submit_prompt(term, log, prompt)
        wait_for(lambda: hook(log, "Stop"), 30, "Stop", term.pane)
    assert submit["prompt"] == prompt
    assert server.prompts() == [prompt]


def test_claude_rate_limit_ends_in_stop_failure(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """(b) A 429 (with `x-should-retry: false`) ends the turn with StopFailure
    `error: "rate_limit"`, no Stop."""
    log = tmp_path / "hooks.jsonl"
    message = "Claude AI usage limit reached|1795820400"
    with ModelServer([{"error": 429, "message": message}]) as server:
        env = claude_env(tmp_path, server.url, checkout.repo, agent_bin)
        skip_bypass_warning(env)
        term = terminal()
        start_claude(term, env, checkout, log, "--dangerously-skip-permissions")
        pasted = time.monotonic()
        submit_prompt(term, log, "Hit the limit")
        failure = wait_for(lambda: hook(log, "StopFailure"), 60, "StopFailure")[0]
        record("claude.enter_to_stop_failure_s", since(pasted))
        pane = term.wait_pane("API Error")
        # The transcript's error line can land after StopFailure has fired.
        transcript = Path(failure["transcript_path"])
        line = wait_for(
            lambda: [row for row in read_jsonl(transcript) if row.get("isApiErrorMessage")],
            10,
            "the transcript's API error line",
        )[0]
    assert failure["error"] == "rate_limit"
    assert hook(log, "Stop") == []
    assert (line["type"], line["apiErrorStatus"], line["error"]) == ("assistant", 429, "rate_limit")
    error_line = next(text for text in pane.splitlines() if "API Error" in text)
    record("claude.rate_limit_pane_line", error_line.strip())
    record("claude.rate_limit_stop_failure", failure)
    record("claude.rate_limit_transcript_text", line["message"]["content"][0]["text"])


def test_claude_default_permission_mode_shows_a_dialog_for_bash(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """(c) `--permission-mode default` stops at a permission dialog before Bash: the
    PermissionRequest hook fires with the command at once, Notification `permission_prompt`
    seconds later; answering "1" runs the command."""
    log = tmp_path / "hooks.jsonl"
    with ModelServer([{"run": ["touch allowed.txt"], "say": "All done."}]) as server:
        env = claude_env(tmp_path, server.url, checkout.repo, agent_bin)
        term = terminal()
        start_claude(term, env, checkout, log, "--permission-mode", "default")
        pasted = time.monotonic()
        submit_prompt(term, log, "Please do the task")
        asked = wait_for(lambda: hook(log, "PermissionRequest"), 30, "PermissionRequest")[0]
        record("claude.enter_to_permission_request_hook_s", since(pasted))
        pane = term.wait_pane("Do you want to proceed?")
        record("claude.enter_to_permission_dialog_s", since(pasted))
        record("claude.permission_dialog_pane", pane.rstrip())
        note = wait_for(lambda: hook(log, "Notification"), 30, "Notification")[0]
        record("claude.enter_to_permission_notification_s", since(pasted))
        record("claude.permission_notification", note)
        record("claude.permission_request_hook", asked)
        assert not (checkout.worktree / "allowed.txt").exists()
        term.keys("1")
        wait_for(lambda: hook(log, "Stop"), 30, "Stop after answering 1")
    assert note["notification_type"] == "permission_prompt"
    assert asked["tool_input"]["command"] == "touch allowed.txt"
    assert (checkout.worktree / "allowed.txt").exists()


def test_claude_asks_before_a_write_in_its_own_words_and_notifies_as_for_bash(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """`--permission-mode default` asks before `Write` with "Do you want to create
    notes.txt?" over "1. Yes": no "proceed". PreToolUse names the file first, and the
    Notification `permission_prompt` comes about 6 s into the prompt, as for Bash; Enter
    (on "1. Yes") writes the file."""
    log = tmp_path / "hooks.jsonl"
    turn = {"write": [{"path": "notes.txt", "content": "hello notes\n"}], "say": "Wrote it."}
    with ModelServer([turn]) as server:
        env = claude_env(tmp_path, server.url, checkout.repo, agent_bin)
        term = terminal()
        start_claude(term, env, checkout, log, "--permission-mode", "default")
        submit_prompt(term, log, "Please do the task")
        pane = term.wait_pane("Do you want to create notes.txt?")
        shown = time.monotonic()
        record("claude.write_permission_pane", pane.rstrip())
        note = wait_for(lambda: hook(log, "Notification"), 30, "Notification")[0]
        record("claude.write_prompt_to_permission_notification_s", since(shown))
        assert not (checkout.worktree / "notes.txt").exists()
        term.keys("Enter")
        wait_for(lambda: hook(log, "Stop"), 30, "Stop after Enter")
    (asked,) = hook(log, "PreToolUse")
    assert "Do you want to proceed?" not in pane and " \u276f 1. Yes" in pane
    assert (asked["tool_name"], asked["tool_input"]["file_path"]) == (
        "Write",
        str(checkout.worktree / "notes.txt"),
    )
    assert note["notification_type"] == "permission_prompt"
    assert (checkout.worktree / "notes.txt").read_text() == "hello notes\n"


def test_claude_auto_permission_mode_asks_the_classifier_and_runs_bash(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """`--permission-mode auto`: the classifier side request answered `<block>no</block>`
    lets Bash run with no dialog."""
    log = tmp_path / "hooks.jsonl"
    with ModelServer([{"run": ["touch auto.txt"], "say": "All done."}]) as server:
        env = claude_env(tmp_path, server.url, checkout.repo, agent_bin)
        term = terminal()
        start_claude(term, env, checkout, log, "--permission-mode", "auto")
        submit_prompt(term, log, "Please do the task")
        wait_for(lambda: hook(log, "Stop"), 30, "Stop", term.pane)
        side = [r for r in server.requests if r["body"] and not r["body"].get("tools")]
    assert (checkout.worktree / "auto.txt").exists()
    record("claude.auto_mode_side_requests", len(side))


CODEX_READY = "? for shortcuts"


def codex_config(env: dict[str, str], top: str = "", tables: str = "") -> None:
    """Add to the user's config.toml what middle would choose for a run: top-level keys must
    precede the first table (after it they land in the table and Codex ignores them)."""
    config = Path(env["CODEX_HOME"]) / "config.toml"
    config.write_text(top + config.read_text() + tables)


def notify_script(tmp_path: Path) -> tuple[Path, Path]:
    script, log = tmp_path / "notify.sh", tmp_path / "notify.jsonl"
    script.write_text(
        f'#!/bin/sh\nfor last; do :; done\nprintf "%s\\n" "$last" | tr -d "\\n" '
        f">> {log}\necho >> {log}\n"
    )
    script.chmod(0o755)
    return script, log


def rollout_events(env: dict[str, str], kind: str) -> list[dict[str, Any]]:
    """`event_msg` payloads of type `kind` from every rollout file under CODEX_HOME/sessions."""
    found = []
    for path in sorted(Path(env["CODEX_HOME"], "sessions").glob("*/*/*/rollout-*.jsonl")):
        found += [
            row["payload"]
            for row in read_jsonl(path)
            if row["type"] == "event_msg" and row["payload"]["type"] == kind
        ]
    return found


def user_messages(env: dict[str, str]) -> list[str]:
    """Prompts Codex accepted: `item_completed` events whose item is a UserMessage."""
    return [
        "".join(part["text"] for part in event["item"]["content"])
        for event in rollout_events(env, "item_completed")
        if event["item"]["type"] == "UserMessage"
    ]


def start_codex(term: Terminal, env: dict[str, str], checkout: Checkout, *flags: str) -> None:
    launched = term.start(
        ["codex", "--no-daemon", "-c", "disable_paste_burst=true", *flags], env, checkout.worktree
    )
    term.wait_pane(CODEX_READY)
    record("codex.launch_to_ready_s", since(launched))


def test_codex_runs_exec_command_notifies_and_records_a_429_in_the_rollout(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """(d) exec_command runs in the worktree under danger-full-access/never; notify fires
    with the answer; the rollout appears; a 429 (`usage_limit_reached`) ends the next turn
    with task_complete.error and no notify."""
    script, notes = notify_script(tmp_path)
    turns = [
        {"run": ["pwd > where.txt"], "say": "All done."},
        {"error": 429, "message": "You have hit your usage limit."},
    ]
    with ModelServer(turns) as server:
        env = codex_env(tmp_path, server.url, checkout.repo, agent_bin)
        codex_config(
            env,
            f'notify = ["{script}"]\nsandbox_mode = "danger-full-access"\n'
            'approval_policy = "never"\n',
        )
        term = terminal()
        start_codex(term, env, checkout)
        pasted = time.monotonic()
        term.paste("Please do the task")
        wait_for(lambda: user_messages(env), 10, "the rollout's UserMessage", term.pane)
        record("codex.paste_to_rollout_user_message_s", since(pasted))
        done = wait_for(
            lambda: [n for n in read_jsonl(notes) if n["input-messages"] == ["Please do the task"]],
            30,
            "notify",
            term.pane,
        )[0]
        record("codex.paste_to_notify_s", since(pasted))
        pasted = time.monotonic()
        term.paste("Hit the limit")
        failed = wait_for(
            lambda: [e for e in rollout_events(env, "task_complete") if e.get("error")],
            30,
            "task_complete with error",
            term.pane,
        )[0]
        record("codex.paste_to_429_task_complete_s", since(pasted))
        pane = term.wait_pane("usage limit")
        record(
            "codex.429_pane_line",
            next(line.strip() for line in pane.splitlines() if "usage limit" in line),
        )
        record("codex.429_task_complete", failed)
        record("codex.notify_payload", done)
    assert done["type"] == "agent-turn-complete" and done["last-assistant-message"] == "All done."
    assert (checkout.worktree / "where.txt").read_text().strip() == str(checkout.worktree)
    assert failed["error"]["codex_error_info"] == "usage_limit_exceeded"
    assert [n for n in read_jsonl(notes) if n["input-messages"] == ["Hit the limit"]] == []
    assert user_messages(env) == ["Please do the task", "Hit the limit"]
    assert server.prompts() == ["Please do the task", "Hit the limit"]


def test_codex_hooks_json_fires_user_prompt_submit_with_bypass_hook_trust(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """(e) $CODEX_HOME/hooks.json (Claude's format) fires UserPromptSubmit and Stop when
    Codex runs with --dangerously-bypass-hook-trust; without it a "Hooks need review" dialog
    blocks the start ("2. Trust all and continue" writes `[hooks.state."<hooks.json>:<event>:
    0:0"] trusted_hash = "sha256:..."` into config.toml)."""
    log = tmp_path / "hooks.jsonl"
    with ModelServer([{"run": ["true"], "say": "All done."}]) as server:
        env = codex_env(tmp_path, server.url, checkout.repo, agent_bin)
        codex_config(env, 'sandbox_mode = "danger-full-access"\napproval_policy = "never"\n')
        install_hooks(Path(env["CODEX_HOME"]) / "hooks.json", log, CODEX_EVENTS)
        blocked = terminal()
        blocked.start(["codex", "--no-daemon"], env, checkout.worktree)

        dialog = blocked.wait_pane("Hooks need review")
        record("codex.hook_review_dialog_pane", dialog.rstrip())
        blocked.kill()
        term = terminal()
        start_codex(term, env, checkout, "--dangerously-bypass-hook-trust")
        pasted = time.monotonic()
        term.paste("Please do the task")
        submit = wait_for(lambda: hook(log, "UserPromptSubmit"), 10, "UserPromptSubmit", term.pane)[
            0
        ]
        record("codex.paste_to_user_prompt_submit_hook_s", since(pasted))
        stop = wait_for(lambda: hook(log, "Stop"), 30, "Stop", term.pane)[0]
        record("codex.hook_payloads", read_jsonl(log))
    assert submit["prompt"] == "Please do the task"
    assert stop["last_assistant_message"] == "All done."


def test_claude_resume_continues_the_session_offline(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """`claude --resume <session_id>` in a new tmux server re-sends the history: the next
    prompt is the conversation's second (turns[1]), under the same session id."""
    log = tmp_path / "hooks.jsonl"
    with ModelServer([{"say": "first"}, {"say": "second"}]) as server:
        env = claude_env(tmp_path, server.url, checkout.repo, agent_bin)
        skip_bypass_warning(env)
        first = terminal()
        session = start_claude(first, env, checkout, log, "--dangerously-skip-permissions")
        submit_prompt(first, log, "One")
        stop = wait_for(lambda: hook(log, "Stop"), 30, "Stop", first.pane)[0]
        # Killed right after Stop, Claude once left the transcript without the "One" line,
        # and the resumed conversation then started without it: wait for the line.
        transcript = Path(stop["transcript_path"])
        wait_for(
            lambda: [
                row
                for row in read_jsonl(transcript)
                if row["type"] == "user" and row["message"]["content"] == "One"
            ],
            10,
            "the prompt in the transcript",
        )
        first.kill()
        log.unlink()
        again = terminal()
        resumed = start_claude(
            again,
            env,
            checkout,
            log,
            "--dangerously-skip-permissions",
            "--resume",
            session["session_id"],
        )
        submit_prompt(again, log, "Two")
        stop = wait_for(lambda: hook(log, "Stop"), 30, "Stop", again.pane)[0]
    record("claude.resume_session_start", {k: resumed[k] for k in ("source", "session_id")})
    assert stop["last_assistant_message"] == "second"
    assert stop["session_id"] == session["session_id"]
    assert server.prompts() == ["One", "Two"]


def test_codex_resume_continues_the_thread_offline(
    agent_bin: Path, checkout: Checkout, terminal: MakeTerminal, tmp_path: Path
) -> None:
    """`codex resume <thread-id>` re-sends the history: the next prompt is turns[1]. After a
    resume, notify's `input-messages` lists every user message of the thread (["One", "Two"]),
    and a fresh title request notifies again under another thread-id."""
    script, notes = notify_script(tmp_path)
    with ModelServer([{"say": "first"}, {"say": "second"}]) as server:
        env = codex_env(tmp_path, server.url, checkout.repo, agent_bin)
        codex_config(
            env,
            f'notify = ["{script}"]\nsandbox_mode = "danger-full-access"\n'
            'approval_policy = "never"\n',
        )
        first = terminal()
        start_codex(first, env, checkout)
        first.paste("One")
        done = wait_for(
            lambda: [n for n in read_jsonl(notes) if n["input-messages"] == ["One"]],
            30,
            "notify",
            first.pane,
        )[0]
        first.kill()
        again = terminal()
        launched = again.start(
            ["codex", "--no-daemon", "-c", "disable_paste_burst=true", "resume", done["thread-id"]],
            env,
            checkout.worktree,
        )
        again.wait_pane(CODEX_READY)
        record("codex.resume_launch_to_ready_s", since(launched))
        again.paste("Two")
        resumed = wait_for(
            lambda: [n for n in read_jsonl(notes) if n["input-messages"][-1:] == ["Two"]],
            30,
            "notify",
            again.pane,
        )[0]
    assert resumed["thread-id"] == done["thread-id"]
    assert resumed["last-assistant-message"] == "second"
    assert server.prompts() == ["One", "Two"]
