"""A stand-in for an interactive agent CLI, bundled for `middle demo` and the tests.

It behaves like the real thing as middle sees it: it starts in a terminal, fires a
SessionStart hook, reads each prompt from the terminal, does some work (writes a file and
commits it), leaves a sentinel, fires a Stop hook, and waits for the next prompt without
exiting. What it does on each turn comes from a script:

    python -m middle.agents.standin --script turns.json --log agent.jsonl [--resume ID]

where `turns.json` is a list of actions, one per prompt it receives (a nudge counts):

    [{"do": "ask", "question": "Backoff base?"}, {"do": "done"}]

Actions: `done` (commit, then done.json; `"touch": [files]` also creates them,
uncommitted, `"commit": [files]` creates them and commits them with the turn's work,
`"write": {path: text}` writes those files with that text, `"edit": {path: [old, new]}`
replaces the first `old` in that file with `new` (ticks a phase), `"note"` is the
commit's message, `"evidence": [...]` puts that list in done.json as its `evidence`,
`"git": [[args...], ...]` runs those git commands after the commit (a push, a rebase), and
`"pr": "ready"` or `"draft"` opens a pull request with `gh` first, with body
`"pr_body"` if given), `ask`
(blocked.json; `"kind": "complexity"` or `"malformed": true` optional), `fail`
(failed.json with `reason`), `bare` (just stop),
`rate-limit` (a `StopFailure` hook with Claude Code's usage-limit message, resetting in
`"reset_in"` seconds, default 3600), `hang` (never sends Stop), `idle` (a
Notification hook every second for `"seconds"`, then stops); any action may
take `"delay": seconds` first, or `"wait_for": path` (until that file exists; a list:
until each does), after `"mark": path` (created as the turn starts).
`rebase` (as an agent told of a merge conflict: `git rebase` onto the head its brief
names, each conflicting file written as `"resolve": {path: text}` says, then done).
Turns past the end of the script are `done`.
`{"exit_at_launch": true}` as the script makes it exit at once. A child of a fanned-out
Epic (`MIDDLE_EPIC=<ref>/<sub>`) follows `{"by_epic": {"<ref>/<sub>": [...]}}` when the
script is that, and keeps its work in `STANDIN_WORK-<sub>.md`; its log lines carry `epic`.

Its memory is its transcript (`.middle/agent/transcript.jsonl`): the turn number is one
more than the prompts recorded there, so a transcript carried to another machine carries
its place in the script. `--resume ID` continues session ID, as `claude --resume ID` and
`codex resume ID` do: the SessionStart hook reports that id (with `"source": "resume"`)
instead of a new one. `--save-at-exit SECONDS` keeps the transcript in memory and writes it
only when the process is hung up, that long after, as Copilot CLI writes its session late.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any


class StandIn:
    def __init__(
        self,
        worktree: Path,
        script: Any,
        log: Path | None,
        resume: str | None = None,
        save_at_exit: float | None = None,
    ) -> None:
        self.worktree = worktree
        self.save_at_exit = save_at_exit
        self.unsaved: list[str] = []  # transcript lines not written yet (`--save-at-exit`)
        self.turns: list[dict[str, Any]] = script if isinstance(script, list) else []
        self.log_path = log
        self.state_dir = worktree / ".middle" / "agent"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.resumed = resume is not None
        self.session_id = resume or uuid.uuid4().hex
        self.transcript = self.state_dir / "transcript.jsonl"
        self.epic = os.environ.get("MIDDLE_EPIC", "")
        if isinstance(script, dict) and "by_epic" in script:
            self.turns = list(script["by_epic"].get(self.epic, []))
        sub = self.epic.partition("/")[2]
        named = re.sub(r"[^A-Za-z0-9_.-]+", "-", sub)  # `owner/name#n`: another repo's
        self.work_file = f"STANDIN_WORK-{named}.md" if sub else "STANDIN_WORK.md"

    def log(self, **entry: Any) -> None:
        if self.log_path is not None:
            with self.log_path.open("a") as handle:
                handle.write(json.dumps({"ts": time.time(), "epic": self.epic, **entry}) + "\n")

    def hook(self, event: str, payload: dict[str, Any]) -> None:
        script = self.worktree / ".middle" / "hooks" / "hook.sh"
        if script.exists():
            subprocess.run([str(script), event], input=json.dumps(payload), text=True, check=False)

    def say(self, role: str, text: str) -> None:
        self.unsaved.append(json.dumps({"type": role, "text": text}) + "\n")
        if self.save_at_exit is None:
            self.save()
        print(text, flush=True)

    def save(self) -> None:
        with self.transcript.open("a") as handle:
            handle.writelines(self.unsaved)
        self.unsaved = []

    def save_late(self) -> None:
        """`--save-at-exit`: write the session a while after the hang-up (its signal, or
        the end of its input, whichever comes first), then exit."""
        time.sleep(float(self.save_at_exit or 0))
        self.save()
        os._exit(0)

    def next_turn(self) -> int:
        """One more than the prompts its transcript holds (a nudge counts)."""
        saved = self.transcript.read_text().splitlines() if self.transcript.exists() else []
        lines = [*saved, *self.unsaved]
        return 1 + sum(1 for line in lines if json.loads(line).get("type") == "user")

    def run(self) -> int:
        if self.save_at_exit is not None:
            signal.signal(signal.SIGHUP, lambda signum, frame: self.save_late())
        self.log(event="launch", session_id=self.session_id, resumed=self.resumed)
        self.hook(
            "SessionStart",
            {
                "session_id": self.session_id,
                "transcript_path": str(self.transcript),
                "cwd": str(self.worktree),
                "source": "resume" if self.resumed else "startup",
            },
        )
        print("stand-in agent ready", flush=True)
        while True:
            try:
                line = input("> ")
            except EOFError:
                if self.save_at_exit is not None:
                    self.save_late()
                return 0
            if not line.strip():
                continue
            turn = self.next_turn()
            action = self.turns[turn - 1] if turn <= len(self.turns) else {"do": "done"}
            brief_path = self.worktree / ".middle" / "prompt.md"
            brief = brief_path.read_text() if brief_path.exists() else ""
            self.hook("UserPromptSubmit", {"session_id": self.session_id, "prompt": line})
            self.say("user", line)
            self.log(
                event="turn",
                turn=turn,
                prompt=line,
                brief=brief,
                action=action,
                session_id=self.session_id,
            )
            ended = self.act(turn, action)
            if ended == "rate-limit":  # as Claude Code reports an API error: no Stop
                reset = int(time.time() + float(action.get("reset_in", 3600)))
                message = f"Claude AI usage limit reached|{reset}"
                self.log(event="stop-failure", turn=turn)
                self.hook("StopFailure", {"error": "rate_limit", "last_assistant_message": message})
            elif ended:
                self.log(event="stop", turn=turn, session_id=self.session_id)
                self.hook("Stop", {"session_id": self.session_id, "stop_hook_active": False})

    def open_pull_request(self, *, draft: bool, body: str | None = None) -> None:
        """Like an agent with `gh` at hand: one PR for its branch."""
        branch = subprocess.run(
            ["git", "rev-parse", "--abbrev-ref", "HEAD"],
            cwd=self.worktree, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        argv = ["gh", "pr", "create", "--head", branch, "--title", "Stand-in work"]
        body = body or "Work done by the stand-in agent."
        argv += [f"--body={body}", *(["--draft"] if draft else [])]
        if subprocess.run(argv, cwd=self.worktree).returncode == 0:
            (self.state_dir / "pr-opened").touch()

    def rebase(self, resolve: dict[str, str]) -> None:
        """Rebase onto the head the brief names, resolving each conflict as scripted."""
        brief = (self.worktree / ".middle" / "prompt.md").read_text()
        onto = re.search(r"git rebase ([0-9a-f]{7,40})", brief)
        if onto is None:
            return
        identity = ["-c", "user.name=stand-in", "-c", "user.email=standin@middle.invalid"]
        editor = {**os.environ, "GIT_EDITOR": "true"}
        done = subprocess.run(["git", *identity, "rebase", onto[1]], cwd=self.worktree, env=editor)
        for _ in range(10):  # a conflict it has no resolution for: give the rebase up
            if done.returncode == 0:
                return
            for name, text in resolve.items():
                (self.worktree / name).write_text(text)
            subprocess.run(["git", "add", "--", *resolve], cwd=self.worktree)
            done = subprocess.run(
                ["git", *identity, "rebase", "--continue"], cwd=self.worktree, env=editor
            )
        subprocess.run(["git", "rebase", "--abort"], cwd=self.worktree)

    def act(self, turn: int, action: dict[str, Any]) -> bool | str:
        """Do the turn's work; return whether to send Stop ("rate-limit": StopFailure)."""
        sentinel = self.worktree / ".middle"
        kind = action.get("do", "done")
        time.sleep(float(action.get("delay", 0)))  # a turn that takes a while
        if action.get("mark"):
            Path(action["mark"]).touch()
        gate = action.get("wait_for")
        gates = gate if isinstance(gate, list) else [gate] if gate else []
        while not all(Path(path).exists() for path in gates):  # a test's start line
            time.sleep(0.05)
        if kind == "rebase":
            self.rebase(action.get("resolve", {}))
            kind = "done"
        if kind == "done":
            work = self.worktree / self.work_file
            with work.open("a") as handle:
                handle.write(f"turn {turn}: work done\n")
            for name in [*action.get("touch", []), *action.get("commit", [])]:
                (self.worktree / name).write_text(f"turn {turn}\n")  # a gate may look for it
            for name, content in action.get("write", {}).items():  # e.g. a recommender's plan
                (self.worktree / name).write_text(content)
            for name, (old, new) in action.get("edit", {}).items():  # e.g. tick a phase
                edited = self.worktree / name
                edited.write_text(edited.read_text().replace(old, new, 1))
            identity = ["-c", "user.name=stand-in", "-c", "user.email=standin@middle.invalid"]
            committed = [self.work_file, *action.get("commit", [])]
            subprocess.run(["git", *identity, "add", "--", *committed], cwd=self.worktree)
            subprocess.run(
                [
                    "git",
                    *identity,
                    "commit",
                    "-q",
                    "-m",
                    action.get("note", f"stand-in: turn {turn}"),
                ],
                cwd=self.worktree,
            )
            for args in action.get("git", []):  # as an agent would: its argv, no shell
                subprocess.run(["git", *identity, *args], cwd=self.worktree)
            if action.get("pr") and not (self.state_dir / "pr-opened").exists():
                self.open_pull_request(draft=action["pr"] == "draft", body=action.get("pr_body"))
            done: dict[str, Any] = {"summary": f"turn {turn} done"}
            if "evidence" in action:  # [{"criterion": ..., "evidence": ...}], as written
                done["evidence"] = action["evidence"]
            (sentinel / "done.json").write_text(json.dumps(done))
            self.say("assistant", "Done.")
        elif kind == "ask":
            if action.get("malformed"):
                (sentinel / "blocked.json").write_text("{not json")
            else:
                question = {"question": action.get("question", "What next?")}
                question["kind"] = action.get("kind", "question")
                (sentinel / "blocked.json").write_text(json.dumps(question))
            self.say("assistant", "I have a question.")
        elif kind == "fail":
            reason = action.get("reason", "cannot do it")
            (sentinel / "failed.json").write_text(json.dumps({"reason": reason}))
            self.say("assistant", f"Giving up: {reason}")
        elif kind == "rate-limit":
            self.say("assistant", "API Error: Request rejected (429)")
            return "rate-limit"
        elif kind == "hang":
            self.say("assistant", "Thinking...")
            return False
        elif kind == "idle":  # stays busy, sending a Notification hook every second
            for tick in range(int(action.get("seconds", 10))):
                message = {"message": f"still working ({tick})", "sent_at": time.time()}
                self.hook("Notification", message)
                time.sleep(1)
        else:
            self.say("assistant", "Stopping.")
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="middle-standin", description=__doc__.split("\n")[0])
    parser.add_argument("--script", type=Path, help="JSON list of per-turn actions")
    parser.add_argument("--log", type=Path, help="append what it does here, as JSON lines")
    parser.add_argument("--resume", metavar="ID", help="continue this session instead of a new one")
    parser.add_argument(
        "--save-at-exit", type=float, metavar="SECONDS",
        help="write the transcript only when hung up, this long after",
    )  # fmt: skip
    args = parser.parse_args(argv)
    script: Any = json.loads(args.script.read_text()) if args.script else []
    if isinstance(script, dict) and script.get("exit_at_launch"):
        print("stand-in agent: exiting at once, as scripted", file=sys.stderr)
        return 3
    return StandIn(Path.cwd(), script, args.log, args.resume, args.save_at_exit).run()


if __name__ == "__main__":
    sys.exit(main())
