"""The Copilot CLI adapter: its worktree home, hooks, screens, session log and env allow-list,
against what Copilot 1.0.102 really draws and sends (tests/fixtures/screens, payloads copied
from the real binary's hooks)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from middle.agents import ClaudeAdapter, CodexAdapter, CopilotAdapter, Signal
from middle.agents.copilot import copilot_home
from middle.agents.launch import agent_environment
from middle.system.hooks import Hook
from middle.system.worktree import hook_script

SCREENS = Path(__file__).parent / "fixtures" / "screens"
SESSION = "79f4f844-d5f2-4d96-b636-d1462bbdf679"


def captured(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text()


@pytest.mark.parametrize(
    ("pane", "kind", "name", "keys"),
    [
        ("copilot-trust-dialog", "dialog", "workspace-trust", ("Enter",)),
        ("copilot-ready", "ready", "", ()),
        ("copilot-busy", "busy", "", ()),
        ("copilot-permission-dialog-phrases", "permission", "", ()),
    ],
)
def test_copilot_screens_are_read_by_their_shape(
    pane: str, kind: str, name: str, keys: tuple[str, ...]
) -> None:
    """The permission prompt's command holds every phrase of the trust dialog, title and
    options: it is still a permission prompt, which parks."""
    screen = CopilotAdapter().screen(captured(pane), False)
    assert (screen.kind, screen.name, screen.keys) == (kind, name, keys)


def test_a_dialog_drawn_above_the_input_box_is_not_answered() -> None:
    """The trust dialog's box, followed by the input box (agent output that drew it), is
    not the dialog: only the box that ends the screen is read."""
    pane = captured("copilot-trust-dialog").rstrip() + "\n" + captured("copilot-ready")
    assert CopilotAdapter().screen(pane, True).kind == "ready"


def test_prepare_writes_the_worktree_home_and_keeps_copilots_own_keys(tmp_path: Path) -> None:
    home = copilot_home(tmp_path)
    home.mkdir(parents=True)
    (home / "config.json").write_text(json.dumps({"trustedFolders": ["/else"], "theme": "x"}))
    CopilotAdapter().prepare(tmp_path)
    CopilotAdapter().prepare(tmp_path)  # idempotent
    config = json.loads((home / "config.json").read_text())
    assert config == {"trustedFolders": ["/else", str(tmp_path)], "theme": "x", "banner": "never"}
    hooks = json.loads((home / "hooks" / "middle.json").read_text())
    assert hooks["version"] == 1
    stop = hooks["hooks"]["agentStop"]
    assert stop == [{"type": "command", "bash": f"{hook_script(tmp_path)} Stop", "timeoutSec": 10}]
    assert set(hooks["hooks"]) >= {"sessionStart", "userPromptSubmitted", "preToolUse"}


def test_launch_sets_the_home_trusts_tools_and_resumes(tmp_path: Path) -> None:
    argv = CopilotAdapter().launch_argv(tmp_path, resume_session=SESSION)
    assert argv == [
        "env", f"COPILOT_HOME={copilot_home(tmp_path)}", "copilot",
        "--no-auto-update", "--allow-all-tools", f"--resume={SESSION}",
    ]  # fmt: skip
    asking = CopilotAdapter({"allow_all_tools": False}).launch_argv(tmp_path)
    assert "--allow-all-tools" not in asking and not any("--resume" in a for a in asking)


@pytest.mark.parametrize(
    "arguments",
    [
        {"command": "git commit -qm x", "description": "Run a scripted command"},
        json.dumps({"command": "git commit -qm x", "description": "Run a scripted command"}),
    ],
    ids=["object", "json-string"],
)
def test_tool_arguments_are_read_as_an_object_or_a_json_string(arguments: object) -> None:
    """1.0.102 sends `toolArgs` as an object; older versions sent a JSON string."""
    payload = {"sessionId": SESSION, "toolName": "bash", "toolArgs": arguments}
    signal = CopilotAdapter().read_hook(Hook("PreToolUse", payload))
    assert signal == Signal("tool", "bash: git commit -qm x")


def test_copilot_hooks_say_acceptance_a_turn_end_and_a_permission() -> None:
    adapter = CopilotAdapter()
    prompt = {"sessionId": SESSION, "prompt": "Line one\nline two"}
    assert adapter.read_hook(Hook("UserPromptSubmit", prompt)) == Signal(
        "accepted", "Line one\nline two"
    )
    stop = {"sessionId": SESSION, "stopReason": "end_turn", "transcriptPath": "/x"}
    assert adapter.read_hook(Hook("Stop", stop)) == Signal("stop", "end_turn")
    asks = {"message": "Run command: touch x", "notification_type": "permission_prompt"}
    assert adapter.read_hook(Hook("Notification", asks)) == Signal(
        "permission", "Run command: touch x"
    )
    assert adapter.read_hook(Hook("Notification", {"notification_type": "idle"})) is None
    assert adapter.read_hook(Hook("SessionStart", {"sessionId": SESSION})) is None


def session_error(kind: str, stamp: str = "2026-12-06T09:41:27.166Z") -> str:
    data = {"errorType": kind, "message": "429 rate limited", "statusCode": 429}
    return json.dumps({"type": "session.error", "data": data, "timestamp": stamp})


def test_the_session_log_names_the_session_and_says_a_limit_once(tmp_path: Path) -> None:
    log = copilot_home(tmp_path) / "session-state" / SESSION / "events.jsonl"
    log.parent.mkdir(parents=True)
    start = {"type": "session.start", "data": {}, "timestamp": "2026-12-06T09:41:20.000Z"}
    old = session_error("rate_limit", "2020-01-01T00:00:00Z")  # an earlier turn's
    log.write_text("\n".join([json.dumps(start), old, session_error("rate_limit")]) + "\n")
    adapter = CopilotAdapter()
    since = 1796000000.0  # after 2020, before the new error
    assert adapter.watch(tmp_path, since) == [
        Signal("session", SESSION, path=str(log)),
        Signal("rate-limited", "429 rate limited"),
    ]
    with log.open("a") as handle:
        handle.write(session_error("provider_server_error") + "\n" + '{"partial')
    (failed,) = adapter.watch(tmp_path, since)
    assert failed.kind == "failed" and "provider_server_error" in failed.detail
    assert adapter.watch(tmp_path, since) == []


def test_a_session_is_seen_before_its_log_is_written(tmp_path: Path) -> None:
    """Copilot writes a session's `events.jsonl` only after the turn's agentStop; its
    folder is there from the start. Seen red in a real Copilot rehearsal: the turn ended
    before the log existed, the session was never recorded, and the answer's launch
    started a new conversation, which asked again."""
    folder = copilot_home(tmp_path) / "session-state" / SESSION
    folder.mkdir(parents=True)
    adapter = CopilotAdapter()
    log = folder / "events.jsonl"
    assert adapter.watch(tmp_path, 0.0) == [Signal("session", SESSION, path=str(log))]
    log.write_text(session_error("rate_limit") + "\n")  # written late, read all the same
    assert adapter.watch(tmp_path, 0.0) == [Signal("rate-limited", "429 rate limited")]


def test_a_session_made_between_the_launch_and_the_prompt_is_seen(tmp_path: Path) -> None:
    """middle asks about the launch first (start-up), then about the prompt's time. The
    folder Copilot made as it started, between the two, is the session. Seen red: it was
    looked for since the prompt only, so a quick turn ended unrecorded."""
    adapter = CopilotAdapter()
    assert adapter.watch(tmp_path, 1000.0) == []  # start-up: no session yet
    folder = copilot_home(tmp_path) / "session-state" / SESSION
    folder.mkdir(parents=True)
    os.utime(folder, (1500.0, 1500.0))  # made after the launch, before the prompt
    log = folder / "events.jsonl"
    assert adapter.watch(tmp_path, 2000.0) == [Signal("session", SESSION, path=str(log))]


def test_copilots_lock_folder_is_not_a_session(tmp_path: Path) -> None:
    """Copilot 1.0.102 keeps `.session-operation-locks/` beside its sessions, touched as
    a session starts. Seen red under load in a CI rehearsal: it was newer than the
    session, so it was recorded as the session; its `events.jsonl` never exists, so the
    answer's launch did not resume, and the agent asked its question again."""
    state = copilot_home(tmp_path) / "session-state"
    (state / SESSION).mkdir(parents=True)
    os.utime(state / SESSION, (1500.0, 1500.0))
    (state / ".session-operation-locks").mkdir()
    os.utime(state / ".session-operation-locks", (1600.0, 1600.0))
    log = state / SESSION / "events.jsonl"
    assert CopilotAdapter().watch(tmp_path, 1000.0) == [Signal("session", SESSION, path=str(log))]


def test_copilot_variables_pass_the_allow_list_for_copilot_only() -> None:
    source = {
        "PATH": "/bin",
        "GH_TOKEN": "ghp",
        "COPILOT_PROVIDER_BASE_URL": "http://127.0.0.1:1/v1",
        "COPILOT_GITHUB_TOKEN": "gho",
        "GITHUB_TOKEN": "ghs",
    }
    copilot = agent_environment(source, CopilotAdapter().env_patterns(), {})
    passed = ["COPILOT_GITHUB_TOKEN", "COPILOT_PROVIDER_BASE_URL", "GH_TOKEN", "PATH"]
    assert sorted(copilot) == passed
    for other in (ClaudeAdapter(), CodexAdapter()):
        assert sorted(agent_environment(source, other.env_patterns(), {})) == ["PATH"]


def test_doctor_tests_the_version_ci_installs() -> None:
    """One pin, two readers: `.ci/install-agent-clis` installs what `tested_versions`
    (so `middle doctor`) calls tested."""
    from tests.real_agents.harness import pinned_versions

    assert CopilotAdapter.tested_versions == (pinned_versions()["COPILOT_VERSION"],) * 2
