"""Per-phase gates (issue 19): when a sub-issue's checkbox goes from `[ ]` to `[x]`, the
gates of that phase run on the branch's committed head, and the phase is done only when
they pass on a head that holds it.

A gate with no `phases` runs for every phase; one with `phases` runs for the sub-issues
it names (by number, as `#n` or `n`, or by slug). Where the checkbox lives (a PR body's
`## Status`, an Epic file's sub-issue line), how it is put back and where the evidence is
published are the issue store's (`IssueStore.phase_marks`, `revert_phase`,
`publish_phase_evidence`); this module is what every caller shares: which phases were
just ticked, which gates judge one, running them, and what a person and the agent read.

    with leased_checkout(home, repo) as checkout:
        run = run_phase_gates(gates, "2", checkout, head, env)
    if not run.passed:
        store.revert_phase(ref, branch, run)   # and nudge the agent with run.report()
    store.publish_phase_evidence(ref, branch, run)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from middle.verify.checkout import GateCheckout
from middle.verify.gates import Gate, GateResult, run_gates

EVIDENCE_TAIL_CHARS = 1500  # of each gate's output, in a published record


@dataclass(frozen=True)
class PhaseRun:
    """One run of one phase's gates on one commit: the record published as its evidence."""

    phase: str  # the sub-issue: its number (as text) or slug
    head: str
    results: tuple[GateResult, ...]

    @property
    def passed(self) -> bool:
        """True when every gate passed (a phase no gate names passes with none)."""
        return all(result.passed for result in self.results)

    @property
    def failing(self) -> list[GateResult]:
        return [result for result in self.results if not result.passed]

    def report(self) -> str:
        """What the agent is told when the phase's gates fail, as one line (it is typed
        into its CLI): the phase, the commit, each failing gate with its output's tail."""
        said = "; ".join(f"{r.summary()} ... {r.tail.strip()[-300:]}" for r in self.failing)
        return " ".join(
            f"Phase #{self.phase} is not done: its gates failed on commit {self.head[:12]}, "
            f"so middle unticked its checkbox. {said} Fix it, commit, and tick the "
            f"checkbox again.".split()
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "head": self.head,
            "passed": self.passed,
            "results": [result.as_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseRun:
        results = tuple(GateResult(**result) for result in data.get("results", []))
        return cls(str(data["phase"]), str(data["head"]), results)

    def evidence_markdown(self) -> str:
        """The published record, as Markdown: a line for the verdict, a table (gate,
        category, result, duration, head) and each gate's output tail."""
        verdict = "passed" if self.passed else "failed"
        lines = [
            f"Gate evidence for phase #{self.phase} on commit {self.head[:12]}: {verdict}.",
            "",
            "| gate | category | result | duration | head |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.gate} | {r.category} | {r.result} | {r.duration_seconds:.1f}s | {r.head[:12]} |"
            for r in self.results
        ]
        if not self.results:
            lines.append(f"| (no gate names phase #{self.phase}) | | passed | 0.0s | "
                         f"{self.head[:12]} |")  # fmt: skip
        for result in self.results:
            tail = result.tail.strip()[-EVIDENCE_TAIL_CHARS:] or "(no output)"
            fence = "`" * max(3, 1 + _longest_backtick_run(tail))
            lines += ["", f"{result.gate} ({result.result}), the end of its output:", "",
                      fence, tail, fence]  # fmt: skip
        return "\n".join(lines)


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def gates_of_phase(gates: Iterable[Gate], phase: str) -> list[Gate]:
    """The gates that judge `phase`: those without `phases`, and those that name it."""
    name = phase.removeprefix("#")
    return [gate for gate in gates if not gate.phases or name in gate.phases]


def newly_ticked(before: Mapping[str, bool], now: Mapping[str, bool]) -> list[str]:
    """The phases checked in `now` that were not checked in `before` (a phase `before`
    does not know counts as unchecked), in `now`'s order."""
    return [phase for phase, checked in now.items() if checked and not before.get(phase, False)]


def run_phase_gates(
    gates: Sequence[Gate],
    phase: str,
    checkout: GateCheckout,
    head: str,
    env: Mapping[str, str] | None = None,
) -> PhaseRun:
    """Run `phase`'s gates (`gates_of_phase`) on a clean checkout of commit `head`, with
    environment `env` (what the agent may see, never middle's own). `checkout` is one the
    caller holds (`leased_checkout`); it is moved to `head` only if a gate is to run."""
    judging = gates_of_phase(gates, phase)
    results = run_gates(judging, checkout.at(head), head, env) if judging else []
    return PhaseRun(phase.removeprefix("#"), head, tuple(results))
