"""The repository-wide agent slots a CI job holds (`middle.app.ci.job._slots`), against a
real bare remote: every slot claimed is released, whatever fails on the way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from middle.app.ci import job
from middle.app.ci.slots import Slot, claim_slot, release_slot
from middle.errors import GitError


def checkout(tmp_path: Path) -> tuple[Path, Path]:
    remote, clone = tmp_path / "remote.git", tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True, capture_output=True)
    return remote, clone


def slot_refs(remote: Path) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(remote), "for-each-ref", "--format=%(refname)",
         "refs/middle/slots/"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.split()


def test_a_claim_that_fails_partway_releases_the_slots_already_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen red: the first slot was pushed, the second claim raised, and the first stayed
    held on origin (for six hours, every other issue queued behind it)."""
    remote, clone = checkout(tmp_path)
    claims: list[Slot | None] = []

    def claim_then_fail(*args: object, **kwargs: object) -> Slot | None:
        if claims:
            raise GitError("git push failed: the network went away")
        claims.append(claim_slot(*args, **kwargs))  # type: ignore[arg-type]
        return claims[-1]

    monkeypatch.setattr(job, "claim_slot", claim_then_fail)
    with pytest.raises(GitError, match="network went away"), job._slots(clone, "7", "j", 2, 3):
        pass
    assert claims and claims[0] is not None
    assert slot_refs(remote) == []


def test_a_release_that_fails_still_releases_the_others_and_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen red: the first failed release ended the loop, and the other slots stayed
    held."""
    remote, clone = checkout(tmp_path)
    released: list[str] = []

    def release_all_but_the_first(repo: Path, slot: Slot) -> None:
        if not released:
            released.append(slot.ref)
            raise GitError("git push failed: the network went away")
        release_slot(repo, slot)
        released.append(slot.ref)

    monkeypatch.setattr(job, "release_slot", release_all_but_the_first)
    with pytest.raises(GitError, match="network went away"), job._slots(clone, "7", "j", 3, 3) as s:
        assert len(s) == 3
    assert len(released) == 3
    assert slot_refs(remote) == [released[0]]  # only the one whose release failed
