"""The Gemini CLI adapter: its worktree home, hooks, screens and env allow-list, against what
Gemini 0.61.0 really draws and sends (tests/fixtures/screens, payloads from its hooks)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from middle.agents import ClaudeAdapter, CopilotAdapter, GeminiAdapter, Signal
from middle.agents import gemini as gemini_module
from middle.agents.gemini import gemini_home
from middle.agents.launch import agent_environment
from middle.system.hooks import Hook
from middle.system.worktree import hook_script

SCREENS = Path(__file__).parent / "fixtures" / "screens"
SESSION = "e82b9830-4ccc-4f45-862b-8f2636d485fb"


def captured(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text()


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """No settling time: a screen is ready the second time it is read."""
    monkeypatch.setattr(gemini_module, "READY_SETTLE_SECONDS", 0.0)


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize(
    ("pane", "started", "kind", "name", "keys"),
    [
        ("gemini-ready", True, "ready", "", ()),
        ("gemini-ready", False, "starting", "", ()),
        ("gemini-usage-limit", True, "rate-limited", "usage-limit", ("Down", "Enter")),
        ("gemini-permission-dialog-phrases", True, "permission", "", ()),
    ],
)
def test_gemini_screens_are_read_by_their_shape(
    pane: str, started: bool, kind: str, name: str, keys: tuple[str, ...]
) -> None:
    """The permission prompt's command holds the usage-limit menu's options and the trust
    dialog's question: it is still a permission prompt, which parks."""
    adapter = GeminiAdapter()
    adapter.screen(captured(pane), started)
    screen = adapter.screen(captured(pane), started)
    assert (screen.kind, screen.name, screen.keys) == (kind, name, keys)


def test_ready_waits_for_the_empty_input_box_to_stay_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen red (tests/real_agents/test_middle_drives_gemini.py, the answer's resumed
    session): with the input box taken as ready at once, the brief was pasted into the
    screen Gemini draws before it redraws the resumed conversation, and was lost; the run
    failed "the agent did not accept the prompt after 3 tries"."""
    clock = iter([100.0, 100.5, 100.6, 101.7])
    monkeypatch.setattr(gemini_module, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    adapter, pane = GeminiAdapter(), captured("gemini-ready")
    assert adapter.screen(pane, True).kind == "starting"  # first drawn at 100.0
    assert adapter.screen(pane + " ", True).kind == "starting"  # redrawn at 100.5
    assert adapter.screen(pane + " ", True).kind == "starting"  # 0.1 s
    assert adapter.screen(pane + " ", True).kind == "ready"  # 1.2 s unchanged


@pytest.mark.usefixtures("settled")
def test_not_ready_while_gemini_waits_on_its_session_start_hook() -> None:
    """Seen red (tests/real_agents, every launch): an Enter pressed while Gemini still shows
    "Executing Hook: middle-SessionStart" was lost, and the prompt was confirmed only by
    the second Enter, 10 s later."""
    ready = captured("gemini-ready")
    waiting = ready.replace(" ? for shortcuts", "  Executing Hook: middle-SessionStart ", 1)
    assert waiting != ready
    adapter = GeminiAdapter()
    for _ in range(2):
        assert adapter.screen(waiting, True).kind == "starting"


def test_busy_is_its_spinner_line() -> None:
    pane = " ⠇ Thinking... (esc to cancel, 11s)\n" + captured("gemini-ready")
    assert GeminiAdapter().screen(pane, True).kind == "busy"


def test_prepare_adds_middles_hooks_to_the_users_settings_and_links_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "home" / ".gemini"
    user.mkdir(parents=True)
    theirs = {"type": "command", "command": "notify-send hi"}
    mine = {
        "security": {"auth": {"selectedType": "oauth-personal"}},
        "hooks": {"AfterAgent": [{"hooks": [theirs]}]},
        "general": {"vimMode": True},
    }
    (user / "settings.json").write_text(json.dumps(mine))
    (user / "oauth_creds.json").write_text("{}")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    worktree = tmp_path / "wt"
    GeminiAdapter().prepare(worktree)
    GeminiAdapter().prepare(worktree)  # idempotent
    folder = gemini_home(worktree) / ".gemini"
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["security"] == mine["security"]
    assert settings["general"] == {
        "vimMode": True, "enableAutoUpdate": False, "enableAutoUpdateNotification": False,
    }  # fmt: skip
    relay = f"{hook_script(worktree)} Stop"
    commands = [h["command"] for group in settings["hooks"]["AfterAgent"] for h in group["hooks"]]
    assert commands == ["notify-send hi", relay]  # theirs kept, middle's added once
    assert set(settings["hooks"]) >= {"SessionStart", "BeforeAgent", "BeforeTool", "Notification"}
    assert (folder / "oauth_creds.json").resolve() == (user / "oauth_creds.json").resolve()
    assert json.loads((user / "settings.json").read_text()) == mine  # the user's untouched


CONTEXT = {"id": "c", "type": "user", "content": [{"text": "<session_context>\nx"}]}
PROMPT = {"id": "p", "type": "user", "content": [{"text": "# Retry failed webhooks"}]}


def write_chat(worktree: Path, *lines: dict[str, object]) -> None:
    chats = gemini_home(worktree) / ".gemini" / "tmp" / "issue-1" / "chats"
    chats.mkdir(parents=True, exist_ok=True)
    path = chats / f"session-2026-12-06T10-21-{SESSION[:8]}.jsonl"
    header = {"sessionId": SESSION, "kind": "main"}
    path.write_text("".join(json.dumps(line) + "\n" for line in (header, *lines)))


def test_a_session_left_without_a_prompt_is_started_anew(tmp_path: Path) -> None:
    """Seen red (tests/real_agents/test_middle_drives_gemini.py, the continue after a usage
    limit): Gemini drops the prompt whose request failed, and `--resume` of the session left
    with only its context made Gemini exit ("the gemini agent exited right after launch")."""
    write_chat(
        tmp_path, {"$set": {"messages": [CONTEXT]}}, PROMPT, {"$set": {"messages": [CONTEXT]}}
    )
    assert "--resume" not in GeminiAdapter().launch_argv(tmp_path, resume_session=SESSION)
    write_chat(tmp_path, {"$set": {"messages": [CONTEXT]}}, PROMPT)
    assert "--resume" in GeminiAdapter().launch_argv(tmp_path, resume_session=SESSION)


def test_launch_sets_the_home_trust_approval_and_resume(tmp_path: Path) -> None:
    write_chat(tmp_path, {"$set": {"messages": [CONTEXT, PROMPT]}})
    argv = GeminiAdapter().launch_argv(tmp_path, resume_session=SESSION)
    assert argv == [
        "env", f"GEMINI_CLI_HOME={gemini_home(tmp_path)}", "gemini",
        "--skip-trust", "--approval-mode", "yolo", "--resume", SESSION,
    ]  # fmt: skip
    asking = GeminiAdapter({"approval_mode": "default"}).launch_argv(tmp_path)
    assert asking[-2:] == ["--approval-mode", "default"]


def test_gemini_hooks_say_acceptance_a_turn_end_and_a_permission() -> None:
    adapter = GeminiAdapter()
    base = {"session_id": SESSION, "transcript_path": "/t.jsonl", "cwd": "/w"}
    prompt = adapter.read_hook(Hook("UserPromptSubmit", {**base, "prompt": "Two\nlines"}))
    assert prompt == Signal("accepted", "Two\nlines")
    stop = {**base, "prompt": "x", "prompt_response": "Done.", "stop_hook_active": False}
    assert adapter.read_hook(Hook("Stop", stop)) == Signal("stop")
    tool = {**base, "tool_name": "run_shell_command", "tool_input": {"command": "git status"}}
    assert adapter.read_hook(Hook("PreToolUse", tool)) == Signal(
        "tool", "run_shell_command: git status"
    )
    asks = {
        **base,
        "notification_type": "ToolPermission",
        "message": "Tool Confirm Shell Command requires execution",
        "details": {"type": "exec", "command": "touch x"},
    }
    assert adapter.read_hook(Hook("Notification", asks)) == Signal("permission", "touch x")


def test_only_geminis_own_quota_message_is_a_limit() -> None:
    adapter = GeminiAdapter()
    pane = "✕ [API Error: You have exhausted your daily quota on this model.]"
    assert adapter.usage_limit(pane) == ""
    assert adapter.usage_limit("the quota is fine; usage limit reached elsewhere") is None


def test_gemini_variables_pass_the_allow_list_for_gemini_only() -> None:
    source = {"PATH": "/bin", "GEMINI_API_KEY": "k", "GOOGLE_GEMINI_BASE_URL": "http://x"}
    passed = agent_environment(source, GeminiAdapter().env_patterns(), {})
    assert sorted(passed) == ["GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "PATH"]
    for other in (ClaudeAdapter(), CopilotAdapter()):
        assert sorted(agent_environment(source, other.env_patterns(), {})) == ["PATH"]


def test_doctor_tests_the_version_ci_installs() -> None:
    from tests.real_agents.harness import pinned_versions

    assert GeminiAdapter.tested_versions == (pinned_versions()["GEMINI_CLI_VERSION"],) * 2
