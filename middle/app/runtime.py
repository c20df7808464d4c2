"""One place sets up a run, and says how it left it.

A command opens a `Runtime` for its repo once: the configuration, the plugins (steps,
workflows, adapters), the database and the issue store. `Runtime.runner(adapter)` gives
the durable runner whose steps get this run's `Services`. Commands that act on a run
that exists (resume, poll, serve, the watchdog, CI) start from its row: `runtime_of(row)`.

`describe` turns how a run was left into the words and exit status a person sees; the
live-run lookups (`live_run`, `parked_run`) and `claim_launch_slot` are shared by every
command that finds a run by its issue or continues a parked one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from middle.app.home import open_home_db
from middle.config import load_config, middle_home
from middle.errors import NothingParkedError, UnknownWorkflowError
from middle.issues import IssueStore, builtin_issue_store
from middle.system.tmux import Tmux

if TYPE_CHECKING:  # the runner's side loads when a command runs something (see `runner`)
    from sqlite_utils import Database

    from middle.engine import Registry, Runner, RunResult
    from middle.engine.runs import Runs
    from middle.steps.services import Progress, Services
    from middle.store import Row, SlotsBusy

WORKFLOW = "implementation"
EPIC_WORKFLOW = "epic"  # a fanned-out Epic's parent run (its children: "epic-child")
PARKED_STATES = ("waiting-human", "rate-limited")


@dataclass(frozen=True)
class Outcome:
    """How a command left a workflow, in words, and whether that is a success (exit 0)."""

    workflow_id: str
    ref: str
    state: str
    message: str
    ok: bool


class Runtime:
    """What one command needs for runs in one repo, each part loaded once."""

    def __init__(
        self, root: Path, *, home: Path | None = None, config: dict[str, Any] | None = None
    ) -> None:
        self.root = root
        self.home = home or middle_home()
        self.config: dict[str, Any] = config if config is not None else load_config(self.home, root)

    @cached_property
    def plugins(self) -> Registry:
        from middle.app.plugins import load_plugins

        return load_plugins(self.root).registry

    @cached_property
    def db(self) -> Database:
        return open_home_db(self.home)

    @cached_property
    def runs(self) -> Runs:
        from middle.engine.runs import Runs  # the engine loads only when a run is read

        return Runs(self.db)

    @cached_property
    def issues(self) -> IssueStore:
        """The store `[epic_store] mode` names. A built-in mode is built without loading
        the plugins (no plugin may take a built-in's mode), so `status` and the dashboard,
        which read many repos' issues, do not import every step to do it."""
        mode = self.config["epic_store"].get("mode", "file")
        builtin = builtin_issue_store(mode)
        if builtin is not None:
            return builtin(self.root, self.config)
        return self.plugins.issue_store(self.root, self.config)

    def services(self, adapter: str, progress: Progress | None = None) -> Services:
        from middle.steps.services import Services

        return Services(
            home=self.home,
            config=self.config,
            issues=self.issues,
            adapter=self.plugins.adapter(adapter, self.config),
            tmux=Tmux(),
            plugins=self.plugins,
            progress=progress,
        )

    def runner(self, adapter: str, progress: Progress | None = None) -> Runner:
        """The durable runner whose steps get this repo's services and `adapter`."""
        from middle.engine import Runner

        on_step = progress.step if progress is not None else None
        services = self.services(adapter, progress)
        return Runner(self.db, self.plugins, services=services, on_step=on_step)


def runtime_of(row: Row) -> Runtime:
    """The runtime of an existing run's repo (for a child of an Epic across repos, the
    Epic's repo: its issue store holds the child's sub-issue and questions)."""
    from middle.engine.runs import Runs

    return Runtime(Path(Runs.input(row).get("epic_repo") or row["repo"]))


def runner_of(row: Row, progress: Progress | None = None) -> Runner:
    """The runner to resume, signal or cancel an existing run with."""
    from middle.engine.runs import Runs

    runtime = runtime_of(row)
    return runtime.runner(str(Runs.input(row)["adapter"]), progress)


def issue_run(runs: Runs, root: Path, ref: str) -> Row | None:
    """The issue's live run in `root`; for `<ref>/<sub>`, also the live child of the
    Epic's run there whose sub-issue is in another repo (an Epic across repos)."""
    live = runs.live(repo=str(root), ref=ref)
    epic, slash, _ = ref.partition("/")
    parent = runs.live(repo=str(root), ref=epic) if live is None and slash else None
    if parent is not None:
        live = next(iter(runs.find(parent_id=parent["id"], epic_ref=ref, live=True)), None)
    return live


def live_run(runs: Runs, root: Path, ref: str, verb: str) -> Row:
    """The issue's live run; `NothingParkedError` naming `verb` if there is none."""
    live = issue_run(runs, root, ref)
    if live is None:
        raise NothingParkedError(f"issue {ref} in {root} has no live workflow to {verb}")
    return live


def parked_run(runs: Runs, root: Path, ref: str, verb: str) -> tuple[Row, dict[str, Any]]:
    """The issue's parked run and why it parked (the `park-for-resume` output)."""
    live = issue_run(runs, root, ref)
    if live is None or live["state"] not in PARKED_STATES:
        what = f"is {live['state']}" if live else "has no live workflow"
        raise NothingParkedError(
            f"nothing to {verb}: issue {ref} in {root} {what}; see: middle status"
        )
    park = park_output(runs, live["id"])
    if park is None:
        raise UnknownWorkflowError(f"workflow {live['id']} is parked but recorded no reason")
    return live, park


# Signals whose continuation launches the agent again, and so needs a slot.
LAUNCHING_SIGNALS = (
    "answer",
    "request-changes",
    "check-failed",
    "rebase",
    "phase-failed",
    "continue",
)


def claim_launch_slot(runner: Runner, row: Row, kind: str) -> SlotsBusy | None:
    """Claim an agent slot for the launch a signal of `kind` leads to; when none is free
    the run stays parked, marked queued, with its signal delivered for later."""
    from middle.engine.runs import Runs

    if kind not in LAUNCHING_SIGNALS:
        return None  # an approval or a PR's end launches nothing
    if Runs.meta(row).get("workflow") == "epic":  # a fanned-out Epic holds no slot: its
        return None  # review round's child claims its own
    from middle.store import claim_slot_at_launch

    adapter = str(Runs.input(row)["adapter"])
    return claim_slot_at_launch(runner.db, row["id"], adapter, runner.services.config)


def park_output(runs: Runs, workflow_id: str) -> dict[str, Any] | None:
    """Why a run parked: its newest `park-for-resume` output, or a fanned-out Epic's
    `park-epic`, or, for an Epic waiting on its children (after a fan-out newer than
    any park: a review round's child may ask too), which ones wait for a human."""
    import json

    from middle.engine.runs import plain_name

    newest = None
    for checkpoint in runs.checkpoints(workflow_id):
        named = plain_name(checkpoint["name"]) in ("park-for-resume", "park-epic", "fan-out")
        if named and checkpoint["status"] == "completed":
            newest = checkpoint
    if newest is None:
        return None
    if plain_name(newest["name"]) != "fan-out":
        return dict(json.loads(newest["output_json"]))
    fanned = json.loads(newest["output_json"])
    waiting = ", ".join(fanned.get("waiting", []))
    return {
        "reason": "children",
        "state": "waiting-human",
        "message": f"sub-issue(s) {waiting} wait for a human; the Epic goes on once they "
        f"settle (see: middle status)",
    }


def describe(runner: Runner, result: RunResult, ref: str) -> Outcome:
    """How `result` left the run, in the words `implement`, `answer` and the rest print."""
    row = runner.runs.get(result.workflow_id)
    state = row["state"]
    if result.status == "parked":
        park = park_output(runner.runs, result.workflow_id) or {}
        return Outcome(result.workflow_id, ref, state, park.get("message", "parked"), True)
    if state == "completed":
        branch = row["pr_branch"] or f"middle/issue-{ref}"
        message = f"branch {branch} is ready; its worktree was removed"
        return Outcome(result.workflow_id, ref, state, message, True)
    reason = row["end_reason"] or state
    return Outcome(result.workflow_id, ref, state, f"{state}: {reason}", False)
