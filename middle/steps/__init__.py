"""middle's built-in steps, registered like any plugin's."""

from __future__ import annotations

from middle.engine import hookimpl
from middle.engine.registry import OriginBoundRegistry
from middle.steps.dispatch import check_slots, prepare_worktree
from middle.steps.outcome import park_for_resume, record_terminal, resume_or_finalize
from middle.steps.recommend import (
    check_plan,
    gather_queue,
    prepare_recommender,
    recommend_turn,
    write_state_issue,
)
from middle.steps.turn import launch_and_drive

BUILTIN_STEPS = (
    check_slots,
    prepare_worktree,
    launch_and_drive,
    park_for_resume,
    record_terminal,
    resume_or_finalize,
    gather_queue,
    prepare_recommender,
    recommend_turn,
    check_plan,
    write_state_issue,
)


@hookimpl
def middle_register_steps(registry: OriginBoundRegistry) -> None:
    for builtin in BUILTIN_STEPS:
        registry.add(builtin)
