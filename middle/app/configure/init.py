"""`init`: set a repository up for middle. Idempotent: a second run changes nothing.

What init writes into the repository it records in `.middle/init.json` (`MANIFEST`): the
sha256 of each file it wrote, the exact text it appended to `.gitignore` (and whether it
created that file), and the folders it created. `middle uninit` (`uninit.py`) undoes
exactly that record, and a file whose hash no longer matches is the user's, kept. The
record is committed with the rest, so uninit works in any clone and across versions whose
templates differ.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from middle import __version__
from middle.app.repo import resolve_repo
from middle.app.runtime import Runtime
from middle.config import load_config, middle_home
from middle.errors import RepoError
from middle.system import git
from middle.system.skills import ROOTS, skill_files
from middle.system.worktree import IGNORED

POLICY = """\
# middle's settings for this repository (merged over $MIDDLE_HOME/config.toml).
[repo]
# default_adapter = "claude"      # claude, codex or command

[epic_store]
mode = "{mode}"                   # "file": Epics in planning/epics; "github": GitHub issues
epics_dir = "planning/epics"

[limits]
max_concurrent = 3
complexity_ceiling = 3
# launch_timeout_seconds = 120
# turn_timeout_seconds = 14400
"""

GITIGNORE = IGNORED  # what middle writes into worktrees (middle.system.worktree)
POLICY_PATH = ".middle/policy.toml"
MANIFEST = ".middle/init.json"
DEFAULT_EPICS_DIR = "planning/epics"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(root: Path) -> dict[str, Any]:
    """What init recorded in `root` (empty lists and tables when it recorded nothing)."""
    path = root / MANIFEST
    recorded: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    recorded.setdefault("files", {})
    recorded.setdefault("dirs", [])
    return recorded


def init_repo(
    repo: str | Path,
    *,
    github: bool = False,
    ci: bool = False,
    dry_run: bool = False,
    force: bool = False,
    upgrade_skills: bool = False,
) -> list[str]:
    """Write what is missing; return one line per change (empty when already set up).
    Then the issue store sets itself up: in GitHub mode (`github=True` for a new policy,
    or the existing policy's mode) the labels middle reads and the state issue, in file
    mode the Epics folder's README. `ci` also writes the Actions workflow (issue 14).
    The skills (`middle.system.skills`) are written where missing; `upgrade_skills` also
    refreshes the copies init wrote that nobody changed since.

    `dry_run` returns what would change ("would ...") and writes nothing. Without `force`
    a tree with changes no commit holds (besides init's own files) is refused, before
    anything is written, so what init writes is a change of its own."""
    root = git.repo_root(resolve_repo(repo))
    github = github or ci
    manifest = read_manifest(root)
    if dry_run:
        return planned_changes(root, github=github, ci=ci)
    if not force:
        refuse_dirty(root, manifest)
    targets = [POLICY_PATH, f"{_epics_dir(root)}/README.md"]
    if ci:
        from middle.app.ci.workflow import WORKFLOW_PATH

        targets.append(str(WORKFLOW_PATH))
    targets += list(skill_files("file"))  # every mode writes the same paths
    before = {path: _read(root / path) for path in targets}
    new_dirs = [d for d in _folders(targets) if not (root / d).exists()]

    changes = []
    policy = root / POLICY_PATH
    if not policy.exists():
        policy.parent.mkdir(parents=True, exist_ok=True)
        policy.write_text(POLICY.format(mode="github" if github else "file"))
        changes.append(f"wrote {POLICY_PATH}")
    changes += _extend_gitignore(root, manifest)
    changes += Runtime(root).issues.set_up()
    changes += _write_skills(root, manifest, upgrade=upgrade_skills)
    if ci:
        from middle.app.ci.workflow import write_workflow

        written = write_workflow(root)
        changes += [written] if written else []

    for path in targets:
        after = _read(root / path)
        if after is not None and after != before[path]:
            manifest["files"][path] = digest(after)
    manifest["dirs"] += [d for d in new_dirs if (root / d).is_dir()]
    if changes:
        manifest["version"] = __version__
        (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return changes


def refuse_dirty(root: Path, manifest: dict[str, Any]) -> None:
    """`RepoError` naming the paths no commit holds, but init's own (`MANIFEST` says which):
    a second init before the first is committed is not refused."""
    own = {*manifest["files"], MANIFEST, *([".gitignore"] if "gitignore" in manifest else [])}
    dirty = [path for path in git.changed_paths(root) if path not in own]
    if dirty:
        shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        raise RepoError(
            f"{root} has changes no commit holds: {shown}; commit them first, so what init "
            f"writes is a change of its own, or run middle init --force"
        )


def planned_changes(root: Path, *, github: bool, ci: bool) -> list[str]:
    """What `init_repo` would change, one "would ..." line each; reads only."""
    planned = []
    policy = root / POLICY_PATH
    if not policy.exists():
        planned.append(f"would write {POLICY_PATH}")
    missing = _missing_ignores(root)
    if missing:
        planned.append(f"would add {len(missing) + 1} line(s) to .gitignore: # middle, "
                       + ", ".join(missing))  # fmt: skip
    mode = _config(root)["epic_store"].get("mode", "file")
    if github and not policy.exists():
        mode = "github"
    if mode == "file":
        readme = f"{_epics_dir(root)}/README.md"
        if not (root / readme).exists():
            planned.append(f"would write {readme}")
    elif mode == "github":
        planned.append("would create or update the labels middle reads on GitHub, and the "
                       "state issue if it is missing")  # fmt: skip
    if any(not (root / path).exists() for path in skill_files(mode)):
        planned.append(f"would write middle's skills under {' and '.join(ROOTS)}")
    if ci:
        from middle.app.ci.workflow import WORKFLOW_PATH, install_requirement, render

        workflow = root / WORKFLOW_PATH
        if not workflow.exists():
            planned.append(f"would write {WORKFLOW_PATH}")
        elif workflow.read_text() != render(install_requirement(_config(root))):
            planned.append(f"would upgrade {WORKFLOW_PATH}, unless it was changed by hand")
    if planned:
        planned.append(f"would record what it wrote in {MANIFEST}, for middle uninit")
    return planned


def _extend_gitignore(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Append the lines middle needs ignored; record the exact text appended."""
    missing = _missing_ignores(root)
    if not missing:
        return []
    gitignore = root / ".gitignore"
    existed = gitignore.exists()
    text = gitignore.read_text() if existed else ""
    prefix = "" if not text or text.endswith("\n") else "\n"
    chunk = prefix + "\n".join(["# middle", *missing]) + "\n"
    with gitignore.open("a") as handle:
        handle.write(chunk)
    record = manifest.setdefault("gitignore", {"created": not existed, "appended": []})
    record["appended"].append(chunk)
    return [f"added {len(missing) + 1} line(s) to .gitignore"]  # "# middle" too, as --dry-run says


def _write_skills(root: Path, manifest: dict[str, Any], *, upgrade: bool) -> list[str]:
    """Write each skill file that is missing; with `upgrade`, also replace each one that
    still holds what init recorded writing. One the user changed is kept, and said."""
    written, kept = 0, []
    for path, text in skill_files(_config(root)["epic_store"].get("mode", "file")).items():
        file = root / path
        current = _read(file)
        if current == text.encode():
            continue
        if current is not None:
            if not upgrade:
                continue
            if manifest["files"].get(path) != digest(current):
                kept.append(f"kept {path}: it changed since middle init wrote it")
                continue
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
        written += 1
    verb = "refreshed" if upgrade else "wrote"
    done = [f"{verb} {written} skill file(s) under {' and '.join(ROOTS)}"] if written else []
    return done + kept


def _missing_ignores(root: Path) -> list[str]:
    gitignore = root / ".gitignore"
    present = gitignore.read_text().splitlines() if gitignore.exists() else []
    return [line for line in GITIGNORE if line not in present]


def _config(root: Path) -> dict[str, Any]:
    return load_config(middle_home(), root)


def _epics_dir(root: Path) -> str:
    """Where the file store keeps Epics: the policy's, or the policy init writes."""
    if not (root / POLICY_PATH).exists():
        return DEFAULT_EPICS_DIR
    return str(_config(root)["epic_store"].get("epics_dir", DEFAULT_EPICS_DIR)).strip("/")


def _folders(paths: list[str]) -> list[str]:
    """Every folder above each of `paths`, outermost first."""
    found: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) not in found:
                found.append(str(parent))
    return found


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None
