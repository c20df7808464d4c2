"""Adapters: stop classification, each CLI's own signals and screens, the agent's
environment, and adapters registered as plugins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from middle import hookimpl
from middle.agents import (
    BUILTIN_ADAPTERS,
    BaseAdapter,
    ClaudeAdapter,
    CodexAdapter,
    CommandAdapter,
    Signal,
)
from middle.agents.base import UNAVAILABLE_QUESTION, Screen
from middle.agents.launch import agent_environment, launch_argv
from middle.agents.screens import trailing_menu
from middle.app.plugins import load_plugins
from middle.errors import AgentError, ConfigError, PluginError
from middle.system.hooks import Hook

CLAUDE_LIMIT = "API Error: Request rejected (429) · Claude AI usage limit reached|1795820159"
CODEX_LIMIT = (
    "■ You\u2019ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), "
    "or try again at 9:02 PM."
)


def write(worktree: Path, **sentinels: str) -> Path:
    (worktree / ".middle").mkdir(exist_ok=True)
    for name, text in sentinels.items():
        (worktree / ".middle" / f"{name}.json").write_text(text)
    return worktree


LIMITED = Signal("rate-limited", "rate limit", reset="1795820159")


@pytest.mark.parametrize(
    ("sentinels", "signal", "text", "kind"),
    [
        ({"blocked": '{"question": "q"}', "done": "{}"}, LIMITED, CLAUDE_LIMIT, "asked-question"),
        ({"done": "{}"}, LIMITED, "", "rate-limited"),
        # Seen red: with the limit text ranked above done.json, an echoed message hid done.
        ({"done": "{}"}, Signal("stop"), CLAUDE_LIMIT, "done"),
        ({}, Signal("stop"), CLAUDE_LIMIT, "rate-limited"),
        ({"done": "{}", "failed": '{"reason": "r"}'}, Signal("stop"), "", "done"),
        ({"failed": '{"reason": "r"}'}, Signal("stop"), "", "failed"),
        ({}, Signal("failed", "billing"), "", "failed"),
        ({}, Signal("stop"), "all good", "bare-stop"),
        ({}, Signal("ended", "other"), "", "bare-stop"),
    ],
)
def test_stops_are_classified_in_order(
    tmp_path: Path, sentinels: dict[str, str], signal: Signal, text: str, kind: str
) -> None:
    adapter = ClaudeAdapter()
    assert adapter.classify_stop(write(tmp_path, **sentinels), signal, text).kind == kind


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
    stop = BaseAdapter().classify_stop(write(tmp_path, blocked=blocked), Signal("stop"), "")
    assert (stop.kind, stop.question, stop.question_kind) == ("asked-question", question, kind)


@pytest.mark.parametrize(
    ("adapter", "text", "reset"),
    [
        (ClaudeAdapter(), CLAUDE_LIMIT, "1795820159"),
        (CodexAdapter(), CODEX_LIMIT, "9:02 PM"),
        (CodexAdapter(), CODEX_LIMIT.replace("\u2019", "'"), "9:02 PM"),
        # Seen red: the old pattern took any line that said "limit reached".
        (ClaudeAdapter(), "Rate limit reached.", None),
        (ClaudeAdapter(), "5-hour limit reached ∙ resets 11pm", None),
        (CodexAdapter(), "we talked about usage limits in general", None),
        (CommandAdapter(), "Claude AI usage limit reached|1795820159", "1795820159"),
    ],
)
def test_only_each_clis_own_usage_limit_message_counts(
    adapter: BaseAdapter, text: str, reset: str | None
) -> None:
    assert adapter.usage_limit(text) == reset


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"error": "rate_limit", "last_assistant_message": CLAUDE_LIMIT},
            Signal("rate-limited", CLAUDE_LIMIT, reset="1795820159"),
        ),
        ({"error": "rate_limit"}, Signal("rate-limited", "rate limit")),
        (
            {"error": "billing_error"},
            Signal("failed", "the agent's API account has a billing error:"),
        ),
    ],
)
def test_stop_failure_is_how_claude_ends_a_turn_on_an_api_error(
    payload: dict[str, Any], expected: Signal
) -> None:
    assert ClaudeAdapter().read_hook(Hook("StopFailure", payload)) == expected


def test_claude_hooks_go_to_local_settings_and_keep_other_keys(tmp_path: Path) -> None:
    settings_path = tmp_path / ".claude" / "settings.local.json"
    settings_path.parent.mkdir()
    settings_path.write_text('{"permissions": {"allow": ["Bash(ls)"]}}')
    adapter = ClaudeAdapter()
    adapter.prepare(tmp_path)
    settings = json.loads(settings_path.read_text())
    assert settings["permissions"] == {"allow": ["Bash(ls)"]}
    for event in ("SessionStart", "UserPromptSubmit", "Stop", "StopFailure", "SessionEnd"):
        command = settings["hooks"][event][0]["hooks"][0]["command"]
        assert command.endswith(f".middle/hooks/hook.sh {event}")
    assert adapter.launch_argv(tmp_path) == ["claude", "--permission-mode", "auto"]
    assert adapter.launch_argv(tmp_path, "s-1")[-2:] == ["--resume", "s-1"]


SCREENS = Path(__file__).parent / "fixtures" / "screens"  # real panes, see its README
RULE = "\u2500" * 40


def captured(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text()


@pytest.mark.parametrize(
    ("adapter", "pane", "started", "kind", "name", "keys"),
    [
        (ClaudeAdapter(), "claude-trust-dialog", False, "dialog", "workspace-trust", ("Enter",)),
        (ClaudeAdapter(), "claude-bypass-warning", False, "dialog", "bypass-permissions-warning",
         ("Down", "Enter")),
        (ClaudeAdapter(), "claude-ready", True, "ready", "", ()),
        (ClaudeAdapter(), "claude-ready", False, "starting", "", ()),
        (CodexAdapter(), "codex-trust-dialog", False, "dialog", "workspace-trust", ("Enter",)),
        (CodexAdapter(), "codex-ready", True, "ready", "", ()),
    ],
)  # fmt: skip
def test_real_screens_are_read_by_shape(
    adapter: BaseAdapter, pane: str, started: bool, kind: str, name: str, keys: tuple[str, ...]
) -> None:
    screen = adapter.screen(captured(pane), started)
    assert (screen.kind, screen.name, screen.keys) == (kind, name, keys)


@pytest.mark.parametrize("started", [True, False])
@pytest.mark.parametrize(
    ("adapter", "pane"),
    [
        (ClaudeAdapter(), "claude-permission-dialog-phrases"),
        (ClaudeAdapter(), "claude-permission-accept-phrase"),
        (ClaudeAdapter(), "claude-permission-fake-dialog"),
        (CodexAdapter(), "codex-permission-dialog-phrases"),
    ],
)
def test_a_permission_prompt_parks_whatever_its_command_says(
    adapter: BaseAdapter, pane: str, started: bool
) -> None:
    """Real prompts for commands that hold the dialogs' phrases, or draw the dialogs line by
    line. Seen red: Claude's were read as the trust dialog (Enter: the command ran with no
    human) or, with only "Yes, I accept", as the bypass warning (Down+Enter: "Yes, and
    always allow", a lasting allow rule); Codex's as its trust dialog (Enter: "Yes,
    proceed")."""
    screen = adapter.screen(captured(pane), started)
    assert (screen.kind, screen.keys) == ("permission", ())


@pytest.mark.parametrize("started", [True, False])
@pytest.mark.parametrize(
    "pane",
    [
        "claude-permission-write",
        "claude-permission-write-long-path",
        "claude-permission-edit",
        "claude-permission-fetch",
    ],
)
def test_every_claude_permission_prompt_parks_whatever_it_asks(pane: str, started: bool) -> None:
    """Real Write, Edit and WebFetch prompts ("Do you want to create notes.txt?", a question
    a long file name wraps, "... make this edit to README.md?", "... allow Claude to fetch
    this content?" over a menu with no footer). Seen red: none says "Do you want to
    proceed?", so each was read as `starting`, and the run waited for the turn timeout.
    A "yes" is Enter on the cursor's "1. Yes": allow this once."""
    screen = ClaudeAdapter().screen(captured(pane), started)
    assert (screen.kind, screen.keys) == ("permission", ())
    menu = trailing_menu(captured(pane))
    assert menu is not None and menu.options[menu.cursor] == "Yes"
    assert ClaudeAdapter().permission_keys("yes") == (("Enter",), None)


def test_a_file_that_draws_a_dialog_on_its_write_prompt_parks() -> None:
    """The content of a file to write is drawn on the prompt, above its question: a file
    that draws the trust dialog, or another permission prompt, is still this prompt."""
    pane = captured("claude-permission-write")
    drawn = "\n".join(line for line in captured("claude-trust-dialog").splitlines() if line.strip())
    faked = pane.replace("  1 hello notes", drawn + "\n Do you want to proceed?\n \u276f 1. Yes")
    assert "Yes, I trust this folder" in faked and faked != pane
    assert ClaudeAdapter().screen(faked, True) == Screen("permission")


@pytest.mark.parametrize(
    ("pane", "kind"),
    [
        # Claude's question said in the scrollback, the input box below: the agent works on.
        (f"\u25cf Do you want to proceed?\n \u276f 1. Yes\n{RULE}\n\u276f \n{RULE}\n", "ready"),
        # A menu that asks, but whose first option is not a plain "Yes".
        (" Do you want to proceed?\n \u276f 1. Yes, I trust this folder\n   2. No\n\n Esc\n",
         "starting"),
        # "1. Yes" under a statement, not a question.
        (" Do you want to proceed.\n \u276f 1. Yes\n   2. No\n\n Esc to cancel\n", "starting"),
    ],
    ids=["said-in-the-scrollback", "not-a-plain-yes", "not-a-question"],
)  # fmt: skip
def test_a_permission_prompt_is_its_shape_not_its_words(pane: str, kind: str) -> None:
    """Seen red: the scrollback's "Do you want to proceed?" parked a working agent."""
    assert ClaudeAdapter().screen(pane, True).kind == kind


def test_a_menu_with_no_footer_keeps_its_last_option() -> None:
    """Claude's WebFetch prompt ends with its last option. Seen red: that option was read
    as the menu's footer."""
    menu = trailing_menu(captured("claude-permission-fetch"))
    assert menu is not None and (menu.options[2], menu.footer, menu.cursor) == (
        "No, and tell Claude what to do differently (esc)",
        "",
        0,
    )


def claude_hook(event: str, **payload: Any) -> Hook:
    return Hook(event, {"hook_event_name": event, "cwd": "/w/issue-1", **payload})


@pytest.mark.parametrize(
    ("hook", "signal"),
    [
        (claude_hook("Notification", notification_type="permission_prompt",
                     message="Claude needs your permission"),
         Signal("permission", "Claude needs your permission")),
        (claude_hook("Notification", notification_type="idle_prompt", message="waiting"), None),
        (claude_hook("PreToolUse", tool_name="Write",
                     tool_input={"file_path": "/w/issue-1/notes.txt", "content": "x" * 900}),
         Signal("tool", "Write: notes.txt")),
        (claude_hook("PreToolUse", tool_name="Edit",
                     tool_input={"file_path": "/w/issue-1/../../etc/hosts", "old_string": "a"}),
         Signal("tool", "Edit: /etc/hosts")),
        (claude_hook("PreToolUse", tool_name="WebFetch",
                     tool_input={"url": "https://example.com/page", "prompt": "Sum"}),
         Signal("tool", "WebFetch: https://example.com/page")),
        (claude_hook("PreToolUse", tool_name="Bash", tool_input={"command": "ls"}),
         Signal("tool", "Bash: ls")),
    ],
    ids=["permission-prompt", "idle", "write-inside", "edit-outside", "fetch", "bash"],
)  # fmt: skip
def test_claude_hooks_say_a_permission_waits_and_what_it_is_for(
    hook: Hook, signal: Signal | None
) -> None:
    """Claude's `Notification` of type `permission_prompt` (about 6 s into any permission
    prompt), and a file or web tool named by its file (relative inside the worktree, the
    real path outside) or URL. Seen red: the Notification was not read, and a Write was
    named by its whole input, cut at 500 characters."""
    assert ClaudeAdapter().read_hook(hook) == signal


def with_below(pane: str, below: str) -> str:
    lines = pane.rstrip().splitlines()
    return "\n".join([*lines, below, ""])


def test_a_dialog_is_only_what_ends_the_screen() -> None:
    """A dialog's own lines anywhere but at the bottom of the screen (the agent printed them,
    and the input box is below) are not that dialog. Seen red: read as the dialog."""
    ready = captured("claude-ready")
    box = ready[ready.index(RULE[:20]) :]  # the input box and its status line
    command = captured("claude-permission-fake-dialog").split(" Bash command\n")[1]
    printed = command[command.index("    Accessing") : command.index("   END")]  # both dialogs
    for dialog in ("claude-trust-dialog", "claude-bypass-warning"):
        assert ClaudeAdapter().screen(with_below(captured(dialog), box), True).kind == "ready"
    assert ClaudeAdapter().screen(f"{printed}\n{box}", True).kind == "ready"
    codex = captured("codex-trust-dialog")
    assert CodexAdapter().screen(with_below(codex, "\u203a Ask Codex"), False).kind == "starting"


@pytest.mark.parametrize(
    ("edit", "kind", "keys"),
    [
        # The cursor already on "Yes, I accept" (a Down arrived, its Enter was lost).
        (lambda p: p.replace("  \u276f 1. No, exit\n    2.", "    1. No, exit\n  \u276f 2."),
         "dialog", ("Enter",)),
        # Options middle does not know: not this dialog.
        (lambda p: p.replace("2. Yes, I accept", "2. Yes, I accept the risk"), "starting", ()),
        (lambda p: p.replace("2. Yes, I accept", "2. Yes, I accept\n    3. Later"), "starting", ()),
        # No title: not this dialog.
        (lambda p: p.replace("WARNING: Claude Code running in Bypass Permissions mode", ""),
         "starting", ()),
        # Its options as text rather than menu lines.
        (lambda p: p.replace("2. Yes, I accept", "2. Yes, I accept (the command said)"),
         "starting", ()),
    ],
    ids=["cursor-on-the-answer", "other-option", "more-options", "no-title", "not-a-menu"],
)  # fmt: skip
def test_the_bypass_warning_is_its_title_options_and_footer(
    edit: Any, kind: str, keys: tuple[str, ...]
) -> None:
    """The real warning, edited. Seen red: every variant was taken for the warning and
    answered Down+Enter, even with the cursor already on "Yes, I accept"."""
    screen = ClaudeAdapter().screen(edit(captured("claude-bypass-warning")), False)
    assert (screen.kind, screen.keys) == (kind, keys)


@pytest.mark.parametrize(
    ("pane", "started", "kind", "keys"),
    [
        (f"{RULE}\n\u276f \n{RULE}\n  \u23f5\u23f5 auto mode on", False, "starting", ()),
        (f"{RULE}\n\u276f \n{RULE}\n  \u23f5\u23f5 auto mode on", True, "ready", ()),
        ("  \u276f 1. Yes\n    2. No", True, "starting", ()),
        ("\u273b Thinking\u2026 (esc to interrupt)", True, "busy", ()),
        # A subscriber's limit menu (its shape as users report it; not captured here).
        ("/rate-limit-options\n\n What do you want to do?\n\n \u276f 1. Stop and wait for "
         "limit to reset\n   2. Upgrade your plan\n\n Enter to confirm \u00b7 Esc to cancel\n",
         True, "rate-limited", ("Enter",)),
        # Seen red: the menu's option, said in the scrollback, was taken for the menu.
        ("\u25cf Stop and wait for limit to reset\n" + f"{RULE}\n\u276f \n{RULE}\n", True,
         "ready", ()),
    ],
)  # fmt: skip
def test_claude_screens(pane: str, started: bool, kind: str, keys: tuple[str, ...]) -> None:
    screen = ClaudeAdapter().screen(pane, started)
    assert (screen.kind, screen.keys) == (kind, keys)


@pytest.mark.parametrize(
    ("answer", "keys", "instead"),
    [
        ("yes", ("Enter",), None),
        (" Allow. ", ("Enter",), None),
        ("no, use a dry run first", ("Escape",), "no, use a dry run first"),
    ],
)
def test_a_permission_answer_allows_or_says_what_to_do_instead(
    answer: str, keys: tuple[str, ...], instead: str | None
) -> None:
    assert ClaudeAdapter().permission_keys(answer) == (keys, instead)


def test_codex_launches_without_a_daemon_and_with_its_notify_hook(tmp_path: Path) -> None:
    argv = CodexAdapter().launch_argv(tmp_path)
    assert argv[:2] == ["codex", "--no-daemon"]
    overrides = dict(value.split("=", 1) for value in argv[3::2])
    assert json.loads(overrides["notify"]) == [str(tmp_path / ".middle/hooks/hook.sh"), "Stop"]
    assert overrides["disable_paste_burst"] == "true"
    assert CodexAdapter().launch_argv(tmp_path, "t-1")[:3] == ["codex", "resume", "t-1"]


def test_codex_ignores_the_notify_of_its_title_request() -> None:
    title = {"type": "agent-turn-complete", "input-messages": ["Generate a concise title"]}
    real = {"type": "agent-turn-complete", "input-messages": ["Read the brief"]}
    adapter = CodexAdapter()
    assert adapter.read_hook(Hook("Stop", title)) is None
    assert adapter.read_hook(Hook("Stop", real)) == Signal("stop")


def rollout_line(kind: str, item: str = "event_msg", **payload: Any) -> str:
    entry = {"timestamp": "2030-01-01T00:00:00.000Z", "type": item}
    return json.dumps({**entry, "payload": {"type": kind, **payload}}) + "\n"


def user_message(text: str) -> str:
    content = [{"type": "input_text", "text": text}]
    return rollout_line("message", "response_item", role="user", content=content)


def test_codex_reads_acceptance_and_limits_from_its_rollout_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    worktree = tmp_path / "wt"
    day = tmp_path / "codex" / "sessions" / "2030" / "01" / "01"
    day.mkdir(parents=True)
    rollout = day / "rollout-2030-01-01T00-00-00-thread.jsonl"
    meta = {"type": "session_meta", "payload": {"id": "thread", "cwd": str(worktree)}}
    context = user_message("<environment_context>cwd</environment_context>")
    rollout.write_text(json.dumps(meta) + "\n" + context + user_message("hi"))
    adapter = CodexAdapter()
    assert adapter.watch(worktree, 0) == [
        Signal("session", "thread", path=str(rollout)),
        Signal("accepted", "hi"),
    ]
    error = {"codex_error_info": "usage_limit_exceeded"}
    with rollout.open("a") as handle:
        handle.write(rollout_line("task_complete", error=error) + '{"partial')
    assert adapter.watch(worktree, 0) == [Signal("rate-limited", "usage limit exceeded")]
    assert adapter.watch(worktree, 0) == []
    assert adapter.watch(tmp_path / "another", 0) == []


def test_the_agent_environment_is_an_allow_list() -> None:
    """Seen red: tmux handed the agent every variable of the process that started it."""
    source = {
        "HOME": "/home/u",
        "PATH": "/bin",
        "LC_ALL": "C.UTF-8",
        "ANTHROPIC_API_KEY": "sk-ant",
        "OPENAI_API_KEY": "sk-oai",
        "GH_TOKEN": "ghp",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "MIDDLE_HOME": "/home/u/.middle",
        "COMPANY_SETTING": "x",
    }
    hooks = {"MIDDLE_SESSION_TOKEN": "token"}
    claude = agent_environment(source, ClaudeAdapter().env_patterns(), hooks)
    assert sorted(claude) == [
        "ANTHROPIC_API_KEY", "HOME", "LC_ALL", "MIDDLE_SESSION_TOKEN", "PATH",
    ]  # fmt: skip
    policy = CommandAdapter({"env_pass": ["COMPANY_*"]}).env_patterns()
    assert "COMPANY_SETTING" in agent_environment(source, policy, hooks)
    assert "OPENAI_API_KEY" in agent_environment(source, CodexAdapter().env_patterns(), hooks)


def test_the_launcher_keeps_the_token_off_the_command_line(tmp_path: Path) -> None:
    """Seen red: the token was an `env NAME=VALUE` argument of tmux new-session."""
    env = {"PATH": "/usr/bin:/bin", "MIDDLE_SESSION_TOKEN": "s3cret-token"}
    show = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]
    argv = launch_argv(tmp_path, show, env)
    assert not any("s3cret-token" in part for part in argv)
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env={"TERM": "xterm"})
    seen = json.loads(done.stdout)
    assert seen["MIDDLE_SESSION_TOKEN"] == "s3cret-token"
    assert seen["TERM"] == "xterm"  # the pane's own, not the dispatcher's
    assert not (tmp_path / ".middle" / "agent-env.json").exists()


class ParrotAdapter(BaseAdapter):
    name: ClassVar[str] = "parrot"
    defaults: ClassVar[dict[str, Any]] = {"binary": "parrot", "voice": "loud"}


class ParrotPlugin:
    @hookimpl
    def middle_register_adapters(self, registry: Any) -> None:
        registry.add_adapter(ParrotAdapter)


def test_a_plugin_adds_an_adapter_with_its_own_defaults() -> None:
    registry = load_plugins(autoload=False, extra=[(ParrotPlugin(), "parrot-plugin")]).registry
    built_in = {adapter.name: "built-in" for adapter in BUILTIN_ADAPTERS}
    assert {"claude", "codex", "command", "copilot", "gemini", "acp", "opencode"} <= set(built_in)
    assert registry.adapter_origins == {**built_in, "parrot": "parrot-plugin"}
    adapter = registry.adapter("parrot", {"adapters": {"parrot": {"voice": "soft"}}})
    assert adapter.settings == {"binary": "parrot", "voice": "soft"}


def test_two_adapters_with_one_name_name_both_origins() -> None:
    class Impostor(ParrotAdapter):
        name: ClassVar[str] = "claude"

    class ImpostorPlugin:
        @hookimpl
        def middle_register_adapters(self, registry: Any) -> None:
            registry.add_adapter(Impostor)

    with pytest.raises(PluginError, match="'claude' is registered twice: by built-in and by"):
        load_plugins(autoload=False, extra=[(ImpostorPlugin(), "impostor")])


def test_an_unknown_adapter_or_missing_binary_is_a_clear_error() -> None:
    registry = load_plugins(autoload=False).registry
    known = "known: acp, claude, codex, command, copilot, gemini, opencode"
    with pytest.raises(ConfigError, match=f"unknown adapter 'gpt'; {known}"):
        registry.adapter("gpt", {})
    with pytest.raises(AgentError, match="the command adapter has no command configured"):
        registry.adapter("command", {}).check_available()


@pytest.mark.parametrize(
    ("printed", "verdict", "says"),
    [
        ("2.1.197 (Claude Code)", "ok", "version 2.1.197 (tested: 2.1.197)"),
        ("2.2.0 (Claude Code)", "warn", "version 2.2.0 is outside what middle was tested with"),
        ("no version here", "warn", "did not say its version"),
    ],
)
def test_doctor_checks_each_cli_version_against_the_tested_range(
    tmp_path: Path, printed: str, verdict: str, says: str
) -> None:
    from middle.app.doctor import check_agent_version

    binary = tmp_path / "claude"
    binary.write_text(f"#!/bin/sh\necho '{printed}'\n")
    binary.chmod(0o755)
    check = check_agent_version("agent claude", ClaudeAdapter({"binary": str(binary)}))
    assert check.verdict == verdict and says in check.detail


def test_codex_passes_the_variables_its_config_names_for_a_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 item 6. Seen red: a custom provider's `env_key` was stripped by the
    allow-list, so the real Codex's first turn failed with "Missing environment variable"
    (tests/real_agents' Codex runs no longer set `env_pass` for it, and went red the same
    way). Only names that are variable names pass; a broken config names none."""
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    (codex_home / "config.toml").write_text(
        'model_provider = "corp"\n'
        "[model_providers.corp]\n"
        'env_key = "CORP_LLM_KEY"\n'
        'env_http_headers = { "X-Team" = "CORP_TEAM", "X-Bad" = "not a name; rm -rf" }\n'
        "[model_providers.other]\n"
        'env_key = "OTHER_KEY"\n'
    )
    source = {"PATH": "/bin", "CORP_LLM_KEY": "k", "CORP_TEAM": "t", "OTHER_KEY": "o", "X": "x"}
    env = agent_environment(source, CodexAdapter().env_patterns(), {})
    assert {"CORP_LLM_KEY", "CORP_TEAM", "OTHER_KEY"} <= set(env)
    assert "X" not in env
    assert "not a name; rm -rf" not in CodexAdapter().env_patterns()
    (codex_home / "config.toml").write_text("model_providers = [\n")
    assert "CORP_LLM_KEY" not in agent_environment(source, CodexAdapter().env_patterns(), {})


def test_doctor_says_whether_each_agent_is_logged_in_and_what_codex_is_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 items 6 and 7: doctor lists each adapter's binary, version and account.
    Seen red: doctor said only "version X (tested: Y)", so a user learned that Codex had
    no key, or which variables it would get, only from a failed first turn."""
    from middle.app.doctor import check_agents

    home, codex_home, bin_dir = tmp_path / "home", tmp_path / "codex-home", tmp_path / "bin"
    for folder in (home, codex_home, bin_dir):
        folder.mkdir()
    for name, says in (("claude", "2.1.197 (Claude Code)"), ("codex", "codex-cli 0.171.0")):
        (bin_dir / name).write_text(f"#!/bin/sh\necho '{says}'\n")
        (bin_dir / name).chmod(0o755)
    (codex_home / "config.toml").write_text(
        'model_provider = "corp"\n[model_providers.corp]\nname = "Corp"\nenv_key = "CORP_KEY"\n'
    )
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("CORP_KEY", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    config = {"adapters": {}, "global": {}, "repo": {}}

    def details() -> dict[str, tuple[str, str]]:
        return {c.name: (c.verdict, c.detail) for c in check_agents(config)}

    found = details()
    assert found["agent claude"] == ("ok", f"version 2.1.197 (tested: 2.1.197) at {bin_dir}/claude")
    assert found["agent claude account"][0] == "warn"
    assert "not logged in" in found["agent claude account"][1]
    verdict, detail = found["agent codex account"]
    assert verdict == "warn" and "provider Corp needs CORP_KEY, which is not set" in detail
    assert f"passes CORP_KEY from {codex_home}/config.toml" in detail

    (home / ".claude.json").write_text('{"oauthAccount": {"emailAddress": "a@b.c"}}')
    monkeypatch.setenv("CORP_KEY", "k")
    found = details()
    assert found["agent claude account"] == ("ok", f"logged in ({home}/.claude.json)")
    assert found["agent codex account"][0] == "ok"


def test_doctor_says_whether_copilot_gemini_and_opencode_can_reach_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 item 7: every built-in adapter that can tell says whether it is logged in
    or configured. Seen red: doctor gave Copilot, Gemini and OpenCode no account line, so a
    user learned of a missing key only from a failed first turn."""
    from middle.agents.copilot import CopilotAdapter
    from middle.agents.gemini import GeminiAdapter
    from middle.agents.opencode import OpenCodeAdapter

    home = tmp_path / "home"
    (home / ".config" / "opencode").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("OPENCODE_CONFIG", raising=False)
    bare = {"HOME": str(home)}
    for adapter in (CopilotAdapter(), GeminiAdapter(), OpenCodeAdapter()):
        said = adapter.account(bare)
        assert said is not None and said[0] is False, (adapter.name, said)

    assert CopilotAdapter().account({**bare, "GH_TOKEN": "t"}) == (True, "GH_TOKEN is set")
    (home / ".gemini").mkdir()
    (home / ".gemini" / "oauth_creds.json").write_text("{}")
    assert GeminiAdapter().account(bare) == (True, f"signed in ({home}/.gemini/oauth_creds.json)")
    (home / ".config" / "opencode" / "opencode.json").write_text(
        '{"provider": {"corp": {"options": {"apiKey": "{env:CORP_KEY}"}}}}'
    )
    assert OpenCodeAdapter().account({**bare, "CORP_KEY": "k"}) == (
        True,
        "a provider in your OpenCode config, with CORP_KEY set",
    )
