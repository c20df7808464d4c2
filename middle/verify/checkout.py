"""The clean checkout gates run in: a detached worktree of one commit, from the repo's own
object store, under the state home. Nothing of the agent's worktree is in it, so only
what the agent committed can make a gate pass.

One checkout serves a turn's gate runs: the first makes it (`git worktree add --detach`),
later ones move it to the new head and delete everything not in that commit, ignored
files too (`git checkout --detach -f` and `git clean -ffdx`), which is the same tree at a
fraction of the cost (docs/benchmarks.md). The turn removes it when it ends. A leftover
of a crashed process is at the same path, so the next gate run of that issue cleans it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from middle.errors import GitError
from middle.refs import repo_slug
from middle.system.git import git, worktree_admin

# A checkout of middle's own must not run the repo's hooks (a post-checkout, say).
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")


def checkout_path(home: Path, repo: Path, ref: str) -> Path:
    """Where issue `ref`'s gates run: beside its worktree, one folder per issue."""
    return home / "worktrees" / repo_slug(repo) / f"gates-{ref}"


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
        # A gate may have deleted `.git`: git would then find a repository above the
        # folder, and a forced checkout and clean must never run there.
        top = git("rev-parse", "--show-toplevel", cwd=self.path)
        if Path(top).resolve() != self.path.resolve():
            raise GitError(f"{self.path} is not a checkout of its own (git found {top})")
        git(*NO_HOOKS, "checkout", "--quiet", "--detach", "--force", sha, cwd=self.path)
        git("clean", "-ffdxq", cwd=self.path)

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
