"""An example third-party middle plugin, packaged on its own.

It adds a `require-changelog` step after the agent's turn in the `implementation`
workflow: a branch that does not touch `CHANGELOG.md` fails the step, so the run is
compensated instead of being handed to a reviewer. Install it and middle finds it through
the `middle` entry-point group; `middle steps` then lists it with this package as origin.
"""

from __future__ import annotations

import subprocess

from tenacity import stop_after_attempt

from middle import MiddleError, PluginRegistry, StepContext, Workflow, hookimpl, step


class ChangelogMissing(MiddleError):
    """The branch has no CHANGELOG.md change."""


@step("require-changelog", stop=stop_after_attempt(1))  # a diff does not change on retry
def require_changelog(ctx: StepContext) -> dict[str, bool]:
    worktree = ctx.results["prepare-worktree"]["worktree"]
    base = ctx.input.get("base", "main")
    changed = subprocess.run(
        ["git", "-C", worktree, "diff", "--name-only", f"{base}...HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if "CHANGELOG.md" not in changed:
        raise ChangelogMissing(
            f"branch in {worktree} changes {len(changed)} file(s) but not CHANGELOG.md; "
            f"ask the agent to add an entry"
        )
    return {"changelog": True}


@hookimpl
def middle_register_steps(registry: PluginRegistry) -> None:
    registry.add(require_changelog)


@hookimpl
def middle_configure_workflow(workflow: Workflow) -> None:
    if workflow.name == "implementation":
        workflow.insert_after("launch-and-drive", require_changelog)
