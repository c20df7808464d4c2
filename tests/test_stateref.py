"""The state ref and the slot refs: compare-and-swap writes on a real bare remote.

Seen red: with `cas` pushing without `--force-with-lease` (a plain `+` force push), the
second writer with a stale expectation overwrites the first instead of raising.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlite_utils import Database

from middle.app.carry.bundle import StateBundle
from middle.app.carry.ref import load_state, save_state
from middle.app.carry.transfer import export_state
from middle.app.ci.slots import claim_slot, release_slot, slot_holders
from middle.errors import StateFormatError, StateRaceError
from tests.e2e.conftest import git
from tests.test_state import make_run


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path]:
    """Two clones of one bare remote: two machines."""
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    git(seed, "commit", "-q", "--allow-empty", "-m", "initial")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(remote)], check=True)
    pair = []
    for name in ("a", "b"):
        subprocess.run(["git", "clone", "-q", str(remote), str(tmp_path / name)], check=True)
        pair.append(tmp_path / name)
    return pair[0], pair[1]


@pytest.fixture
def bundle(tmp_path: Path, middle_db: Database) -> Callable[[str], StateBundle]:
    """A real export of a parked run (test_state's), told apart by its `exported_at`."""
    home, repo = make_run(middle_db, tmp_path)

    def make(note: str) -> StateBundle:
        exported = export_state(middle_db, ["wf-1"], home=home, repo=repo)
        return StateBundle({**exported.doc, "exported_at": note}, exported.files)

    return make


def test_a_saved_bundle_reads_back_on_another_clone(
    clones: tuple[Path, Path], bundle: Callable[[str], StateBundle]
) -> None:
    a, b = clones
    assert load_state(a, "7").sha is None
    sha = save_state(a, "7", bundle("one"), {"claimed_by": "a"}, expected=None, message="m")
    saved = load_state(b, "7")
    assert saved.sha == sha and saved.job == {"claimed_by": "a"}
    assert saved.bundle is not None and saved.bundle.doc["exported_at"] == "one"
    assert saved.bundle.files == bundle("one").files != {}


def test_two_writers_that_read_the_same_value_cannot_both_write(
    clones: tuple[Path, Path], bundle: Callable[[str], StateBundle]
) -> None:
    a, b = clones
    first = save_state(a, "7", bundle("one"), {}, expected=None, message="m")
    assert load_state(b, "7").sha == first
    save_state(a, "7", bundle("two"), {}, expected=first, message="m")
    with pytest.raises(StateRaceError):
        save_state(b, "7", bundle("three"), {}, expected=first, message="m")
    with pytest.raises(StateRaceError):  # "must not exist" fails once it does
        save_state(b, "7", bundle("four"), {}, expected=None, message="m")
    saved = load_state(b, "7").bundle
    assert saved is not None and saved.doc["exported_at"] == "two"


def test_slots_cap_the_agents_across_clones(clones: tuple[Path, Path]) -> None:
    a, b = clones
    one = claim_slot(a, 2, issue="1", job="j1")
    two = claim_slot(b, 2, issue="2", job="j2")
    assert one is not None and two is not None and one.ref != two.ref
    assert claim_slot(a, 2, issue="3", job="j3") is None  # full
    assert sorted(slot_holders(b, 2)) == ["#1", "#2"]
    release_slot(a, one)
    assert claim_slot(b, 2, issue="3", job="j3") is not None


def _push_tree(clone: Path, files: dict[str, bytes], ref: str = "refs/middle/state/7") -> None:
    """Write `ref` by hand, as anyone who may push can."""
    lines = []
    for name, data in files.items():
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=clone, input=data,
            capture_output=True, check=True,
        ).stdout.decode().strip()  # fmt: skip
        lines.append(f"100644 blob {blob}\t{name}\n")
    tree = subprocess.run(
        ["git", "mktree"], cwd=clone, input="".join(lines), capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    commit = git(clone, "commit-tree", tree, "-m", "by hand")
    git(clone, "push", "-q", "--force", "origin", f"{commit}:{ref}")


@pytest.mark.parametrize(
    "record",
    [b"[]", b"9" * 5000, b"[" * 100_000, b'{"issue": "$(touch pwned)", "expires_at": "9999"}'],
    ids=["a list", "a 5,000-digit number", "nested too deep", "an issue that is not a number"],
)
def test_a_slot_record_middle_cannot_read_is_never_trusted(
    clones: tuple[Path, Path], record: bytes
) -> None:
    """A slot is a ref any job (or anyone who may push) writes. One whose record is not a
    slot record middle wrote is free to take, and the queued summary shows its holder as
    `?`. Seen red: a list raised AttributeError and deep nesting RecursionError, both out
    of the job; an issue of any text went into the summary as it was."""
    a, b = clones
    _push_tree(a, {"slot.json": record}, ref="refs/middle/slots/0")
    assert slot_holders(b, 1) == ["?"]
    if record.startswith(b"{"):  # a readable record that has not expired holds its slot
        assert claim_slot(b, 1, issue="3", job="j3") is None
    else:
        assert claim_slot(b, 1, issue="3", job="j3") is not None
        assert slot_holders(b, 1) == ["#3"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"job.json": b"{nope"}, "not JSON"),
        ({"job.json": b'{"claimed_by": 1}'}, "claimed_by = 1"),
        ({"job.json": b'{"run": "rm -rf /"}'}, "not a claim or a queue mark"),
        ({"job.json": b"{}", "evil.py": b"x"}, "'evil.py' but no state.json"),
        ({"job.json": b"{}", "state.json": b'{"format": "middle-state"}'}, "no `version`"),
    ],
    ids=["not JSON", "a claim of a number", "an unknown key", "a stray file", "no version"],
)
def test_a_state_ref_that_is_not_what_a_job_writes_is_refused_in_one_line(
    clones: tuple[Path, Path], files: dict[str, bytes], expected: str
) -> None:
    """Seen red before issue 20: `{nope` was a JSONDecodeError traceback, and the others
    were read as they were."""
    a, b = clones
    _push_tree(a, files)
    with pytest.raises(StateFormatError) as refused:
        load_state(b, "7")
    assert expected in str(refused.value) and "refs/middle/state/7" in str(refused.value)
    assert "\n" not in str(refused.value)
