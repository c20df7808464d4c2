"""A third issue store from a repo's `.middle/plugins/`: `implement`, `poll`, `review`,
`doctor` and `status` use it through the protocol, with no change to middle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Sandbox, git

REF = "lamp"

PLUGIN = '''
import json

from middle import hookimpl
from middle.issues import Issue, IssueStore, PullRequest


class NotesStore(IssueStore):
    """Issues as `<folder>/<ref>.json`. A person answers in `<ref>.answer` and approves by
    creating `<ref>.approved`; every call worth seeing is logged to `<ref>.log`."""

    mode = "notes"

    def __init__(self, repo, config):
        self.repo = repo
        self.folder = repo / config["notes"]["folder"]  # a table of its own

    def _log(self, ref, what, **fields):
        with (self.folder / f"{ref}.log").open("a") as log:
            log.write(json.dumps({"what": what, **fields}) + "\\n")

    def load(self, ref):
        data = json.loads((self.folder / f"{ref}.json").read_text())
        return Issue(
            ref=ref, title=data["title"], context=data["context"], criteria=[],
            sub_issues=[], approved=True, closed=False, adapter=None,
            complexity_ceiling=None, source=self.link(ref),
        )

    def all_refs(self):
        return sorted(path.stem for path in self.folder.glob("*.json"))

    def link(self, ref):
        return f"notes://{ref}"

    def open_issues(self, default_adapter):
        return []

    def open_question(self, ref):
        return None

    def record_question(self, ref, text, *, kind):
        self._log(ref, "question", text=text)
        return ref

    def record_answer(self, ref, text, *, author):
        self._log(ref, "answer", text=text, author=author)

    def post_note(self, ref, text):
        self._log(ref, "note", text=text)

    def open_blockers(self, ref):
        return []

    def blocker_status(self, ref):
        return "missing", ""

    def pull_request(self, branch):
        return PullRequest(7, False, None, "OPEN", "f" * 40, f"notes://pulls/7?{branch}")

    def updates(self, parked):
        self._log(
            parked.ref, "updates", reason=parked.reason, acted_on=sorted(parked.acted_on),
            pr=parked.pull_request.number if parked.pull_request else None,
        )
        answer = self.folder / f"{parked.ref}.answer"
        if parked.reason == "asked-question" and answer.exists():
            if "notes-answer" in parked.acted_on:
                return None
            return {"kind": "answer", "text": answer.read_text(), "author": "notes",
                    "acted_on": ["notes-answer"]}
        if parked.reason == "done" and (self.folder / f"{parked.ref}.approved").exists():
            return {"kind": "approve", "author": "notes", "pr": parked.pull_request.number}
        return None


@hookimpl
def middle_register_issue_stores(registry):
    registry.add_issue_store(NotesStore)
'''


def notes_repo(sandbox: Sandbox) -> Path:
    """The sandbox repo switched to the plugin's store, with issue `lamp` in `notes/`."""
    plugins = sandbox.repo / ".middle" / "plugins"
    plugins.mkdir()
    (plugins / "notes_store.py").write_text(PLUGIN)
    notes = sandbox.repo / "notes"
    notes.mkdir()
    issue = {"title": "A lamp", "context": "Make the lamp blink."}
    (notes / f"{REF}.json").write_text(json.dumps(issue))
    (sandbox.repo / ".middle" / "policy.toml").write_text(
        "[limits]\nlaunch_timeout_seconds = 30\nturn_timeout_seconds = 60\n\n"
        '[epic_store]\nmode = "notes"\n\n[notes]\nfolder = "notes"\n'
    )
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-qm", "a repo-local issue store")
    return notes


def log(notes: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (notes / f"{REF}.log").read_text().splitlines()]


def test_a_plugins_issue_store_carries_a_run_from_dispatch_to_approval(sandbox: Sandbox) -> None:
    """Seen red before issue stores were plugins: `[epic_store] mode = "notes"` was refused
    by the config schema ("file" or "github"), and no hook could add a store."""
    notes = notes_repo(sandbox)
    sandbox.script({"do": "ask", "question": "Which colour?"}, {"do": "done"})

    asked = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert asked.returncode == 0, asked.stderr
    assert "Which colour?" in asked.stdout
    assert "Make the lamp blink." in sandbox.agent_log("turn")[0]["brief"]
    assert log(notes)[-1] == {"what": "question", "text": "Which colour?"}

    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."
    (notes / f"{REF}.answer").write_text("Red, please.")
    answered = sandbox.middle("poll")
    assert f"issue {REF}: answer" in answered.stdout, answered.stderr
    assert "Red, please." in sandbox.agent_log("turn")[1]["brief"]
    assert {"what": "answer", "text": "Red, please.", "author": "notes"} in log(notes)
    row = sandbox.workflow()
    assert row["state"] == "waiting-human" and row["pr_number"] == 7  # poll recorded it

    assert sandbox.middle("poll").stdout.strip() == "Nothing to resume."
    *_, latest = [entry for entry in log(notes) if entry["what"] == "updates"]
    assert latest == {"what": "updates", "reason": "done", "acted_on": ["notes-answer"], "pr": 7}

    (notes / f"{REF}.approved").touch()
    approved = sandbox.middle("poll")
    assert f"issue {REF}: approve" in approved.stdout, approved.stderr
    assert sandbox.workflow()["state"] == "completed"

    doctor = sandbox.middle("doctor")
    assert "✓ config" in doctor.stdout, doctor.stdout


def test_an_unknown_mode_is_one_line_naming_the_registered_ones(sandbox: Sandbox) -> None:
    """The known modes are the registered stores, a plugin's among them, not a list in the
    config schema (which said `expected "file" or "github"` before stores were plugins)."""
    notes_repo(sandbox)
    (sandbox.repo / ".middle" / "policy.toml").write_text('[epic_store]\nmode = "jira"\n')
    refused = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"middle: {sandbox.repo}: [epic_store] mode = 'jira' names no issue store; "
        "known: file, github, notes (a plugin can add one)\n"
    )
    doctor = sandbox.middle("doctor")
    assert "[epic_store] mode = 'jira': expected one of file, github, notes" in doctor.stdout
