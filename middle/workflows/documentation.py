"""The `documentation` workflow: audit a repo's docs, and with `write` fix them on a branch.

prepare-docs
attempts (loop: again while the report is missing or the gates fail, up to 3)
  docs-turn
  check-docs
finish-docs
"""

from __future__ import annotations

from middle.engine import Workflow, loop
from middle.steps.documentation.steps import another_docs_attempt


def documentation_workflow() -> Workflow:
    return Workflow(
        "documentation",
        [
            "prepare-docs",
            loop("attempts", ["docs-turn", "check-docs"], again=another_docs_attempt),
            "finish-docs",
        ],
        kind="documentation",
    )
