"""A bundle's rows carried onto this machine: every path rebuilt, none taken from the bundle.

`check_bundle` has held each value to its column. What is left depends on where the rows
land:

- a run must be of the repository it was exported from, which becomes this checkout (a
  run of any other repository is refused);
- its worktree, tmux session and branch, and the `prepare-worktree` output that names
  them, are what middle gives issue <ref> here (`worktree_path`, `session_name`,
  `branch_name`), whatever the bundle says;
- its session token is a new one: a bundle carries none;
- its transcript goes where the run's adapter keeps transcripts for that worktree
  (`BaseAdapter.transcript_roots`), at the place the exporting machine's path maps to:
  a path anywhere else, or through `..` or into a `.git`, is refused.

Other text (event payloads, step outputs, the run's scratch, end reasons) is rebased by
prefix, so that a person reading it sees this machine's paths: the old checkout becomes
this one, the old `MIDDLE_HOME` this one, each old worktree the new one, Claude Code's
per-project session folder follows the worktree, and the old user home becomes this one.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from middle.agents.base import BaseAdapter
from middle.agents.claude import project_dir
from middle.agents.transcripts import kept_transcript, transcript_root
from middle.app.carry.bundle import CHILD, EPIC, TRANSCRIPTS, Refusal, StateBundle, shown
from middle.errors import MiddleError
from middle.refs import branch_name, session_name
from middle.steps.dispatch import worktree_path
from middle.steps.epic_child import child_branch, child_worktree, integration_branch, sub_name
from middle.steps.fanout import integration_worktree
from middle.store import TERMINAL_STATES, Row, encode_event_payload

JSON_COLUMNS = ("meta_json", "output_json", "payload_json")
AdapterOf = Callable[[str], BaseAdapter]


@dataclass(frozen=True)
class Worktree:
    """A live run's worktree, to check out from its branch."""

    path: Path
    branch: str
    base: str


@dataclass(frozen=True)
class Transcript:
    """A transcript's bytes and where they go: `path`, strictly under `root`."""

    root: Path
    path: Path
    data: bytes


@dataclass(frozen=True)
class Place:
    """Where middle puts a run of issue <ref> on this machine: its worktree, branch and
    tmux session (an Epic's run: its integration worktree and branch; a child: its own)."""

    worktree: Path
    branch: str
    session: str


def place_of(row: Mapping[str, Any], *, home: Path, repo: Path) -> Place:
    """The place of a checked row (`check_bundle` held its ref and sub-issue to its kind)."""
    meta = json.loads(row["meta_json"])
    ref = str(row["epic_ref"])
    if meta.get("workflow") == CHILD:
        epic, _, sub = ref.partition("/")
        name = f"epic-{epic}-{sub_name(sub)}"
        return Place(child_worktree(home, repo, epic, sub), child_branch(epic, sub),
                     session_name(repo, name))  # fmt: skip
    if meta.get("workflow") == EPIC:
        return Place(integration_worktree(home, repo, ref), integration_branch(ref),
                     session_name(repo, ref))  # fmt: skip
    return Place(worktree_path(home, repo, ref), branch_name(ref), session_name(repo, ref))


@dataclass
class Carried:
    """The rows to write, then the worktrees and transcripts to put in place."""

    tables: dict[str, list[Row]]
    worktrees: list[Worktree] = field(default_factory=list)
    transcripts: list[Transcript] = field(default_factory=list)


def carry(bundle: StateBundle, *, home: Path, repo: Path, adapter_of: AdapterOf) -> Carried:
    """The checked bundle's rows as they are written on this machine (see the module)."""
    refuse = Refusal(bundle.source)
    doc = bundle.doc
    rebase = path_rebaser(doc, home=home, repo=repo)
    carried = Carried({name: [] for name in doc["tables"]})
    for number, row in enumerate(doc["tables"].get("workflows", []), 1):
        carried.tables["workflows"].append(
            _carry_run(number, row, bundle, home=home, repo=repo, rebase=rebase,
                       adapter_of=adapter_of, refuse=refuse, into=carried)
        )  # fmt: skip
    places = {
        row["id"]: place_of(row, home=home, repo=repo) for row in doc["tables"].get("workflows", [])
    }
    for table, rows in doc["tables"].items():
        if table == "workflows":
            continue
        for row in rows:
            moved = rebase_row(row, rebase)
            if table == "steps" and row["name"] in PREPARES and row.get("output_json"):
                moved["output_json"] = _rebuilt_output(
                    moved["output_json"], places[row["workflow_id"]]
                )
            carried.tables[table].append(moved)
    return carried


def _carry_run(
    number: int, row: Mapping[str, Any], bundle: StateBundle, *, home: Path, repo: Path,
    rebase: Callable[[str], str], adapter_of: AdapterOf, refuse: Refusal, into: Carried,
) -> Row:  # fmt: skip
    origin = bundle.doc["origin"]["repo"]
    run_input = json.loads(row["meta_json"]).get("input", {})
    if row["repo"] != origin or run_input.get("repo", origin) != origin:
        raise refuse(
            f"workflows row {number} is a run in {shown(row['repo'])}, not in {origin}, "
            f"the repository the bundle was exported from"
        )
    ref = str(row["epic_ref"])
    place = place_of(row, home=home, repo=repo)
    worktree = place.worktree
    out = rebase_row(row, rebase)
    meta = json.loads(out["meta_json"])
    if "input" in meta:
        meta["input"]["repo"] = str(repo)
    out.update(
        repo=str(repo),
        epic_number=int(ref) if re.fullmatch(r"[0-9]+", ref) else None,
        meta_json=json.dumps(meta),
        worktree_path=str(worktree) if row.get("worktree_path") else None,
        session_name=place.session if row.get("session_name") else None,
        session_token=secrets.token_hex(16) if row.get("worktree_path") else None,
        pr_branch=place.branch if row.get("pr_branch") else None,
        transcript_path=None,
    )
    if row.get("transcript_path"):
        try:
            adapter = adapter_of(str(row["adapter"]))
        except MiddleError as exc:
            raise refuse(f"workflows row {number}: {exc}") from None
        roots = adapter.transcript_roots(worktree)
        target = Path(rebase(str(row["transcript_path"])))
        root = transcript_root(target, roots)
        if root is None and target == kept_transcript(home, str(row["id"])):
            root = target.parent  # middle's own copy of a finished run's transcript
        if root is None:
            raise refuse(
                f"workflows row {number} has transcript_path {shown(str(target))}, which "
                f"is not under "
                f"{' or '.join(map(str, roots))}, where the {adapter.name} adapter keeps "
                f"this run's transcripts"
            )
        out["transcript_path"] = str(target)
        data = bundle.files.get(f"{TRANSCRIPTS}/{row['id']}")
        if data is not None:
            into.transcripts.append(Transcript(root, target, data))
    if row["state"] not in TERMINAL_STATES and out["worktree_path"] and out["pr_branch"]:
        base = str(run_input.get("base") or "HEAD")
        into.worktrees.append(Worktree(worktree, place.branch, base))
    return out


PREPARES = ("prepare-worktree", "prepare-child")  # the steps that name a run's worktree


def _rebuilt_output(output_json: str, place: Place) -> str:
    """A prepare step's output names the worktree a compensation removes: rebuilt."""
    output = json.loads(output_json)
    if not isinstance(output, dict):
        return output_json
    if "worktree" in output:
        output["worktree"] = str(place.worktree)
    if "branch" in output:
        output["branch"] = place.branch
    return json.dumps(output)


# -- rebasing -----------------------------------------------------------------------------


def path_rebaser(doc: Mapping[str, Any], *, home: Path, repo: Path) -> Callable[[str], str]:
    """A function that moves a path of the exporting machine to its place on this one."""
    origin = doc["origin"]
    old_user, new_user = Path(origin["user_home"]), Path.home()
    pairs: dict[str, str] = {origin["repo"]: str(repo), origin["home"]: str(home)}
    for row in doc["tables"].get("workflows", []):
        old = origin["worktrees"].get(row["id"])
        if old:
            new = place_of(row, home=home, repo=repo).worktree
            pairs[old] = str(new)
            pairs[str(project_dir(old_user, Path(old)))] = str(project_dir(new_user, new))
    pairs.setdefault(str(old_user), str(new_user))
    ordered = sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)

    def rebase(value: str) -> str:
        for old, new in ordered:
            if value == old or value.startswith(old.rstrip("/") + "/"):
                return new + value[len(old) :]
        return value

    return rebase


def rebase_row(row: Mapping[str, Any], rebase: Callable[[str], str]) -> Row:
    out: Row = {}
    for key, value in row.items():
        if key in JSON_COLUMNS and isinstance(value, str):
            moved = _walk(json.loads(value), rebase)
            out[key] = encode_event_payload(moved) if key == "payload_json" else json.dumps(moved)
        elif isinstance(value, str):
            out[key] = rebase(value)
        else:
            out[key] = value
    return out


def _walk(value: Any, rebase: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return rebase(value)
    if isinstance(value, list):
        return [_walk(item, rebase) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item, rebase) for key, item in value.items()}
    return value
