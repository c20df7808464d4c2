"""The recommender's brief: what to read, what to write, and the v1 rules it must keep."""

from __future__ import annotations

from typing import Any

RULES = """\
## The plan format (state issue v1)

`.middle/plan.md` already holds a valid plan that middle drafted from the facts. Improve
the ranking and the reasons; keep the format exactly:

- The markers, the `generated`/`owners` comments and the seven `## ` sections stay, in
  order, each heading followed by one blank line, each section's lines followed by one.
- Ready to dispatch: `| <rank> | #<ref> <title> | <adapter> | <open sub-issues> | <reason> |`,
  ranks 1, 2, 3, ...; titles at most 60 characters; a reason is one line of at most 180
  characters with no markdown but backticks. Empty: `| — | _no Epics ready_ | — | — | — |`.
- Needs human input: `- **#<ref> <label>** — <one line> · [link](<url or path>)`, labels:
  fork tied, ambiguous criteria, ready for review, complexity pause, awaiting reply,
  blocking critical path.
- Blocked: `- **#<ref>** waiting on <#ref | owner/repo#n | `description`> · <context>`.
- Excluded: `- **#<ref>** <category> — <detail>`, categories: assigned to human,
  needs-design label, acceptance criteria missing, no open sub-issues, archived, out of
  scope.
- In-flight, Rate limits and Slot usage belong to the dispatcher: leave them as they are.

Rank what unblocks the most other Epics first, then smaller Epics (fewer open
sub-issues). Never rank an Epic that is in flight, blocked or excluded.
"""


def recommender_brief(facts: dict[str, Any], adapters: list[str], errors: list[str]) -> str:
    """The brief for one recommender turn; `errors` (from the last check) make it a
    re-prompt that asks for exactly those fixes."""
    epics = len(facts.get("epics", []))
    runs = len(facts.get("runs", []))
    head = [
        "# Recommend what to work on next",
        "",
        "You are the recommender for this repository. You do not write code, commit, open",
        "pull requests or edit issues. Your only output is the plan in `.middle/plan.md`.",
        "",
        f"The facts are in `.middle/queue.json`: {epics} open Epic(s) with their open",
        f"sub-issues and open blockers, and {runs} live run(s). Configured adapters: "
        f"{', '.join(adapters)}.",
        "",
        'When the plan is written, write `.middle/done.json` (`{"summary": "..."}`) and stop.',
        "",
    ]
    if errors:
        head += [
            "## Your last plan was refused",
            "",
            "Fix exactly these problems in `.middle/plan.md`, then write `.middle/done.json`:",
            "",
            *[f"- {error}" for error in errors],
            "",
        ]
    return "\n".join(head) + "\n" + RULES
