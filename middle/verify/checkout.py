"""The clean checkout gates run in: a detached worktree of one commit, from the repo's own
object store, under the state home. Nothing of the agent's worktree is in it, so only
what the agent committed can make a gate pass.

The checkouts are middle's own and kept per repo (`leased_checkout`): the first gate run
makes one (`git worktree add --detach`); every later one, of any run of that repo, moves
it to the head it judges and deletes everything not in that commit, ignored files too
(`git checkout --detach -f` and `git clean -ffdx`). That is the same tree as a fresh
checkout, written only where the commits differ (docs/benchmarks.md: a fresh checkout of
5,000 files costs seconds on a busy disk, a move tens of milliseconds). A gate run holds
its checkout under a lock, so runs at once each get one of their own (`gates-0`,
`gates-1`, ...). A leftover of a crashed process is at the same path, so the next gate
run cleans it.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from middle.errors import GitError
from middle.refs import repo_slug
from middle.system.git import git, worktree_admin

# A checkout of middle's own must not run the repo's hooks (a post-checkout, say).
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")


def checkout_path(home: Path, repo: Path, name: str) -> Path:
    """Where gate checkout `name` of `repo` lives: beside the issues' worktrees."""
    return home / "worktrees" / repo_slug(repo) / f"gates-{name}"


@contextmanager
def leased_checkout(home: Path, repo: Path) -> Iterator[GateCheckout]:
    """A gate checkout of `repo` that no other gate run uses until the block ends: the
    first free one of `gates-0`, `gates-1`, ... (an advisory lock on a file beside each,
    which the kernel releases when a process dies, so a crash never holds one). It is
    kept afterwards, for the next gate run to move."""
    folder = checkout_path(home, repo, "0").parent
    folder.mkdir(parents=True, exist_ok=True)
    for slot in itertools.count():
        with (folder / f"gates-{slot}.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another gate run holds this one
                continue
            yield GateCheckout(repo, checkout_path(home, repo, str(slot)))
            return


def head_of(repo: Path, branch: str) -> str:
    """The commit `branch` points at, as a full SHA."""
    return git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", cwd=repo)


class GateCheckout:
    """A detached checkout at `path` of `repo`'s commits: `at(sha)` makes it or moves it,
    `remove()` deletes it. Made lazily, so a turn without gates costs nothing."""

    def __init__(self, repo: Path, path: Path) -> None:
        self.repo = repo
        self.path = path

    def at(self, sha: str) -> Path:
        """The checkout, holding exactly the tree of commit `sha` and nothing else."""
        with worktree_admin(self.repo):  # other checkouts of the repo may be made at once
            if (self.path / ".git").is_file():  # made before: by this turn, or a crashed one
                try:
                    self._reset(sha)
                    return self.path
                except GitError:  # a leftover git no longer knows, or one a crash broke
                    pass
            self._remove()  # whatever is at the path, and git's record of it
            self.path.parent.mkdir(parents=True, exist_ok=True)
            argv = ("worktree", "add", "--quiet", "--detach", str(self.path), sha)
            git(*NO_HOOKS, *argv, cwd=self.repo)
        return self.path

    def _reset(self, sha: str) -> None:
        # A gate may have deleted or rewritten `.git`: git would then find another
        # repository (one above the folder, say), and a forced checkout and clean must
        # never run there.
        if not self._own():
            raise GitError(f"{self.path} is not a checkout of its own any more")
        git(*NO_HOOKS, "checkout", "--quiet", "--detach", "--force", sha, cwd=self.path)
        git("clean", "-ffdxq", cwd=self.path)

    def _own(self) -> bool:
        """Whether `.git` is this worktree's own link: a `gitdir:` file naming an admin
        folder of the repo whose `gitdir` names this `.git` back. Read here rather than
        asked of git: one process less on every gate run (docs/benchmarks.md)."""
        dot_git = self.path / ".git"
        try:
            pointer = dot_git.read_text().strip()
            if not pointer.startswith("gitdir: "):
                return False
            admin = self.path / pointer.removeprefix("gitdir: ")
            back = admin / (admin / "gitdir").read_text().strip()
        except OSError:
            return False
        return back.resolve() == dot_git.resolve() and admin.resolve().parent.name == "worktrees"

    def remove(self) -> None:
        """Delete the checkout and forget it in git; a no-op when it is gone."""
        with worktree_admin(self.repo):
            self._remove()

    def _remove(self) -> None:
        self._remove_folder()
        git("worktree", "prune", cwd=self.repo)

    def _remove_folder(self) -> None:
        if not self.path.exists():
            return
        try:
            shutil.rmtree(self.path)
        except PermissionError:  # a gate left read-only folders (Go's module cache does)
            for folder, _, _ in os.walk(self.path):
                os.chmod(folder, 0o700)
            shutil.rmtree(self.path)
