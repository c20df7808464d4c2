"""An adapter from a repo's `.middle/plugins/`, and a start-up screen middle does not know:
it parks as a question whose text is the screen, and the answer is typed into it. And a
screen that says the CLI waits on purpose holds the launch's clock."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.e2e.conftest import REF, Sandbox, git

PLUGIN = '''
from middle import hookimpl
from middle.agents import CommandAdapter, Screen


class ThemedAdapter(CommandAdapter):
    """The stand-in behind a first-run question of its own."""

    name = "themed"
    knows_screens = True

    def screen(self, pane, session_started):
        ready = session_started and "stand-in agent ready" in pane
        return Screen("ready" if ready else "starting")


@hookimpl
def middle_register_adapters(registry):
    registry.add_adapter(ThemedAdapter)
'''

FIRST_RUN = """
import os, sys, time
time.sleep(2)  # slow to draw its first screen: longer than unknown_screen_seconds
answer = input("Welcome! Pick a colour theme [dark/light]: ")
open(sys.argv[1], "w").write(answer)
os.execv(sys.executable, [sys.executable, "-m", "middle.agents.standin", *sys.argv[2:]])
"""


def command_lines() -> list[str]:
    """Every process's command line, as `ps` shows them to any user of the machine."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # the process ended
    return lines


def test_an_unknown_start_up_screen_is_a_question_and_the_answer_goes_into_it(
    sandbox: Sandbox,
) -> None:
    """Seen red: the screen held the start until the launch timeout failed the run; and,
    with the CLI slow to draw it, the question held an empty pane (its clock started at
    launch). While the agent runs, its session token is on no process's command line (seen
    red: it was an argument of tmux new-session). The question's take-over line names
    middle's own tmux server (seen red: a plain `tmux attach -t`, which looks on the user's
    default server)."""
    plugins = sandbox.repo / ".middle" / "plugins"
    plugins.mkdir()
    (plugins / "themed.py").write_text(PLUGIN)
    first_run, chosen = sandbox.root / "first_run.py", sandbox.root / "theme.txt"
    first_run.write_text(FIRST_RUN)
    script = sandbox.root / "script.json"
    script.write_text(json.dumps([{"do": "done"}]))
    argv = [sys.executable, str(first_run), str(chosen), "--script", str(script)]
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nlaunch_timeout_seconds = 30\nturn_timeout_seconds = 60\n"
        "unknown_screen_seconds = 1\n\n"
        f'[repo]\ndefault_adapter = "themed"\n\n[adapters.themed]\nargv = {json.dumps(argv)}\n'
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-qm", "a repo-local adapter")

    asked = sandbox.middle("implement", "--issue", REF)
    assert asked.returncode == 0, asked.stderr
    assert "shows a screen middle does not know" in asked.stdout
    assert "Pick a colour theme [dark/light]:" in asked.stdout
    assert f"tmux -S {sandbox.socket} attach -t =" in " ".join(asked.stdout.split())
    assert sandbox.workflow()["state"] == "waiting-human"
    token = sandbox.workflow()["session_token"]
    assert sandbox.sessions() and not any(token in line for line in command_lines())

    answered = sandbox.middle("answer", "--issue", REF, "--text", "dark")
    assert answered.returncode == 0, answered.stderr
    assert chosen.read_text() == "dark"
    assert "ready for review" in answered.stdout
    assert len(sandbox.events("agent.launched")) == 1


WAITING_PLUGIN = '''
from middle import hookimpl
from middle.agents import CommandAdapter, Screen


class WaitingAdapter(CommandAdapter):
    """The stand-in behind a start-up wait it announces, as the ACP supervisor does
    before Gemini can load a session."""

    name = "waiting"

    def screen(self, pane, session_started):
        if not session_started and "WAITING" in pane:
            return Screen("waiting")
        return super().screen(pane, session_started)


@hookimpl
def middle_register_adapters(registry):
    registry.add_adapter(WaitingAdapter)
'''

WAIT_THEN_RUN = """
import os, sys, time
print("WAITING (6 s)", flush=True)
time.sleep(6)
os.execv(sys.executable, [sys.executable, "-m", "middle.agents.standin", *sys.argv[1:]])
"""


def test_a_wait_the_cli_announces_holds_the_launch_timeout(sandbox: Sandbox) -> None:
    """A `waiting` screen restarts the launch's clock: a 6 s wait the CLI says it makes
    fits a 5 s launch timeout. Seen red (the clock ran on): "not ready within 5s"."""
    plugins = sandbox.repo / ".middle" / "plugins"
    plugins.mkdir()
    (plugins / "waiting.py").write_text(WAITING_PLUGIN)
    wrapper, script = sandbox.root / "wait_then_run.py", sandbox.root / "script.json"
    wrapper.write_text(WAIT_THEN_RUN)
    script.write_text(json.dumps([{"do": "done"}]))
    argv = [sys.executable, str(wrapper), "--script", str(script)]
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nlaunch_timeout_seconds = 5\nturn_timeout_seconds = 60\n\n"
        f'[repo]\ndefault_adapter = "waiting"\n\n[adapters.waiting]\nargv = {json.dumps(argv)}\n'
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-qm", "a repo-local adapter that waits")

    result = sandbox.middle("implement", "--issue", REF)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready for review" in result.stdout
