"""A finished run keeps its transcript: before its worktree goes, the agent's transcript
is copied to `$MIDDLE_HOME/transcripts/<run id>.jsonl` (0600), and the run points there,
so `status`, the dashboard and a CI artifact can still show what the agent did. A
transcript may live in the worktree itself (the `command` adapter's), and a CLI's own
folder can be cleaned by its user. Only a transcript its adapter vouches for is copied:
the path came from the agent's hook."""

from __future__ import annotations

from pathlib import Path

from middle.agents.transcripts import kept_transcript, trusted_transcript
from middle.engine import StepContext
from middle.steps.services import services
from middle.system.files import write_private


def keep_transcript(ctx: StepContext) -> None:
    """Copy the run's transcript under the home and point the run at the copy. Safe to
    re-run: a run already pointing at its copy is left as it is."""
    row = ctx.runs.get(ctx.workflow_id)
    if not row["transcript_path"]:
        return
    home = services(ctx).home
    kept = kept_transcript(home, ctx.workflow_id)
    worktree = Path(row["worktree_path"]) if row["worktree_path"] else None
    source = trusted_transcript(services(ctx).adapter, Path(row["transcript_path"]), worktree)
    if source is None or not source.is_file():
        return  # nothing written yet, or not the adapter's to vouch for: nothing to keep
    kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(kept, source.read_bytes())
    ctx.runs.update(ctx.workflow_id, transcript_path=str(kept))
