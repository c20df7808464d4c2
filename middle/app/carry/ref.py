"""The state ref: a run's bundle kept in the repository itself, on `refs/middle/state/<n>`.

Nobody checks that ref out. Each save is a commit made with git plumbing (`hash-object`,
`mktree`, `commit-tree`) whose tree holds the bundle's files (`state.json`,
`transcripts/<workflow id>`) and `job.json` (who holds the run now, or that it is
queued). Its parent is the previous save, so the ref's log is the run's history.

Writes are compare-and-swap: `git push --force-with-lease=<ref>:<expected old>` succeeds
only if the remote ref still is what this job read (an empty expectation means "must not
exist"). Two jobs that read the same old value cannot both write; the loser gets
`StateRaceError` and leaves without doing anything.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from middle.app.carry.bundle import DOCUMENT, Refusal, StateBundle, check_bundle
from middle.errors import UNREADABLE_JSON, GitError, StateRaceError
from middle.system.git import git, git_bytes

JOB_FILE = "job.json"
JOB_KEYS = {"claimed_by", "claimed_at", "expires_at", "queued_at", "by"}
REMOTE = "origin"
IDENTITY = {
    "GIT_AUTHOR_NAME": "middle",
    "GIT_AUTHOR_EMAIL": "middle@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "middle",
    "GIT_COMMITTER_EMAIL": "middle@users.noreply.github.com",
}


def state_ref(ref: str) -> str:
    return f"refs/middle/state/{ref}"


@dataclass
class Saved:
    """What a state ref holds: its commit, the bundle (None before the first export) and
    the job record (`{"claimed_by": ...}`, `{"queued_at": ...}` or `{}`)."""

    sha: str | None
    bundle: StateBundle | None = None
    job: dict[str, Any] = field(default_factory=dict)


def fetch_ref(repo: Path, ref: str) -> str | None:
    """Fetch `ref` from origin into the same local ref; its commit, or None if absent."""
    try:
        git("fetch", "--quiet", "--no-tags", REMOTE, f"+{ref}:{ref}", cwd=repo)
    except GitError as exc:
        if "couldn't find remote ref" in str(exc):
            _delete_local(repo, ref)
            return None
        raise
    return git("rev-parse", ref, cwd=repo)


def _delete_local(repo: Path, ref: str) -> None:
    with contextlib.suppress(GitError):
        git("update-ref", "-d", ref, cwd=repo)


def load_state(repo: Path, ref: str) -> Saved:
    """Fetch the issue's state ref and read it. Anyone who may push to the repository may
    have written it, so it is checked as any bundle is (`check_bundle`), and `job.json`
    too: what is not what a job writes is a `StateFormatError` naming the ref."""
    source = state_ref(ref)
    sha = fetch_ref(repo, source)
    if sha is None:
        return Saved(None)
    files = read_tree(repo, sha)
    try:
        job = json.loads(files.pop(JOB_FILE, b"{}"))
        doc = json.loads(files.pop(DOCUMENT)) if DOCUMENT in files else None
    except UNREADABLE_JSON as exc:
        raise Refusal(source)(f"it holds a file that is not JSON ({str(exc)[:120]})") from exc
    check_job(job, source)
    if doc is None:
        if files:
            raise Refusal(source)(f"it holds {sorted(files)[0]!r} but no {DOCUMENT}")
        return Saved(sha, None, job)
    return Saved(sha, StateBundle(check_bundle(doc, files, source), files, source=source), job)


def check_job(job: Any, source: str) -> None:
    """`job.json` is `{}`, a claim or a queue mark: text values under known keys."""
    if not isinstance(job, dict) or not set(job) <= JOB_KEYS:
        raise Refusal(source)(f"its {JOB_FILE} is not a claim or a queue mark: {str(job)[:80]}")
    for key, value in job.items():
        if not isinstance(value, str):
            raise Refusal(source)(f"its {JOB_FILE} has {key} = {value!r}, which is not text")


def read_tree(repo: Path, sha: str) -> dict[str, bytes]:
    listing = git("ls-tree", "-r", "-z", "--full-tree", sha, cwd=repo)
    files = {}
    for entry in filter(None, listing.split("\0")):
        meta, name = entry.split("\t", 1)
        files[name] = git_bytes("cat-file", "blob", meta.split()[2], cwd=repo)
    return files


def save_state(
    repo: Path,
    ref: str,
    bundle: StateBundle | None,
    job: dict[str, Any],
    *,
    expected: str | None,
    message: str,
) -> str:
    """Write a commit holding `bundle` and `job` to the issue's state ref on origin, if
    the ref is still `expected` there (None: it must not exist). Returns the commit."""
    files: dict[str, bytes] = {JOB_FILE: json.dumps(job, indent=1).encode()}
    if bundle is not None:
        files[DOCUMENT] = json.dumps(bundle.doc, indent=1).encode()
        files.update(bundle.files)
    tree = write_tree(repo, files)
    parents = ["-p", expected] if expected else []
    commit = git("commit-tree", tree, *parents, "-m", message, cwd=repo, env=IDENTITY)
    cas(repo, state_ref(ref), commit, expected=expected)
    return commit


def cas(repo: Path, ref: str, new: str | None, *, expected: str | None) -> None:
    """Set (or, with `new=None`, delete) `ref` on origin only if it is `expected` there."""
    lease = f"--force-with-lease={ref}:{expected or ''}"
    refspec = f"{new}:{ref}" if new else f":{ref}"
    try:
        git("push", "--quiet", "--atomic", lease, REMOTE, refspec, cwd=repo)
    except GitError as exc:
        if "stale info" in str(exc) or "rejected" in str(exc) or "already exists" in str(exc):
            raise StateRaceError(
                f"{ref} changed on {REMOTE} since this job read it: another job holds it"
            ) from exc
        raise
    if new:
        git("update-ref", ref, new, cwd=repo)
    else:
        _delete_local(repo, ref)


def write_tree(repo: Path, files: dict[str, bytes]) -> str:
    """A tree object holding `files` (names may contain one level of folders)."""
    top: list[str] = []
    folders: dict[str, dict[str, bytes]] = {}
    for name, data in sorted(files.items()):
        folder, slash, leaf = name.partition("/")
        if slash:
            folders.setdefault(folder, {})[leaf] = data
        else:
            top.append(f"100644 blob {_hash(repo, data)}\t{name}")
    for folder, inner in folders.items():
        top.append(f"040000 tree {write_tree(repo, inner)}\t{folder}")
    listing = "".join(f"{line}\n" for line in sorted(top, key=_tree_order))
    return git("mktree", cwd=repo, input=listing.encode())


def _tree_order(line: str) -> str:
    return line.split("\t", 1)[1]


def _hash(repo: Path, data: bytes) -> str:
    return git("hash-object", "-w", "--stdin", cwd=repo, input=data)


def list_state_refs(repo: Path) -> list[str]:
    """The issue refs that have a state ref on origin."""
    out = git("ls-remote", REMOTE, "refs/middle/state/*", cwd=repo)
    return [line.split("\t", 1)[1].rsplit("/", 1)[1] for line in out.splitlines() if "\t" in line]
