"""The repos of an Epic that spans several (issue 23, "one task across repos"): which
repo each sub-issue is in, and what a gate of one of them sees of the others.

In file mode an Epic's `repos:` meta maps a short name to a local path (relative to the
Epic's repo root, or absolute), and a sub-issue's `repo: lib` line names one; a
sub-issue without one is in the Epic's own repo, named by the `repos:` key whose path is
that repo, else by its folder's name.

A gate run for one repo of such an Epic gets, for each other repo,
`MIDDLE_EPIC_REPO_<NAME>` (a kept checkout of that repo at its integration head, see
`middle.verify.checkout`) and `MIDDLE_EPIC_HEAD_<NAME>` (that head's SHA). `<NAME>` is
the repo's name upper-cased, anything but letters and digits as `_`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from middle.errors import EpicError, GitError
from middle.system.git import git
from middle.verify.checkout import head_of, leased_checkout

REPO_VAR, HEAD_VAR = "MIDDLE_EPIC_REPO_", "MIDDLE_EPIC_HEAD_"


def env_name(name: str) -> str:
    """`lib-core` -> `LIB_CORE`: the `<NAME>` of a repo's two variables."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def resolve_repos(
    root: Path, ref: str, declared: Mapping[str, str], subs: Sequence[tuple[str, str | None]]
) -> tuple[str, dict[str, Path], dict[str, str]]:
    """The Epic's own repo's name, the root of every repo a sub-issue is in (by name,
    its own first), and each sub-issue's repo name. `subs` are (id, `repo:` or None).
    `EpicError` naming the sub-issue, the value and the fix for an unknown name or a
    path that is not a git repository."""
    root = root.resolve()
    roots: dict[str, Path] = {}
    for name, value in declared.items():
        roots[name] = _repo_root(root, ref, name, value, subs)
    own = next((name for name, path in roots.items() if path == root), root.name)
    involved: dict[str, Path] = {own: root}
    where: dict[str, str] = {}
    for sub, named in subs:
        name = named or own
        if name not in roots and name != own:
            known = ", ".join(sorted(roots)) or "none"
            raise EpicError(
                f"sub-issue {sub} of issue {ref} says `repo: {name}`, a name the Epic's "
                f"`repos:` meta does not map (it maps: {known}); add `{name}: <path>` under "
                f"`repos:`, or fix the sub-issue's repo line"
            )
        involved.setdefault(name, roots.get(name, root))
        where[sub] = name
    if own not in where.values():
        del involved[own]
    return own, involved, where


def _repo_root(
    root: Path, ref: str, name: str, value: str, subs: Sequence[tuple[str, str | None]]
) -> Path:
    path = (root / value).resolve() if value else root
    who = next((f"sub-issue {sub}" for sub, repo in subs if repo == name), "a sub-issue")
    problem = (
        f"{who} of issue {ref} is in repo {name} = {value!r}, and {path} is not the top of "
        f"a git repository; fix its path under the Epic's `repos:` meta (relative to "
        f"{root}, or absolute)"
    )
    if not path.is_dir():
        raise EpicError(problem)
    try:
        top = Path(git("rev-parse", "--show-toplevel", cwd=path)).resolve()
    except GitError:
        raise EpicError(problem) from None
    if top != path:
        raise EpicError(problem)
    return path


@contextmanager
def other_repos_env(
    home: Path, repos: Mapping[str, Mapping[str, str]], besides: str | None
) -> Iterator[dict[str, str]]:
    """The variables a gate of repo `besides` gets for every other repo of the Epic
    (`repos`: name -> its `path` and `integration` branch), each checkout leased for as
    long as the block runs. Nothing for a one-repo Epic."""
    with ExitStack() as stack:
        env: dict[str, str] = {}
        for name, where in sorted(repos.items()):
            if name == besides:
                continue
            repo = Path(where["path"])
            head = head_of(repo, where["integration"])
            checkout = stack.enter_context(leased_checkout(home, repo))
            env[REPO_VAR + env_name(name)] = str(checkout.at(head))
            env[HEAD_VAR + env_name(name)] = head
        yield env
