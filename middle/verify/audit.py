"""The audit rubric: which acceptance criteria no gate or test could verify.

`middle audit-issues` judges an issue's criteria before anyone builds it, so that what an
agent will later have to evidence (`verify/evidence.py`) is something a test or a gate can
show. The rubric is a small table of rules, each a pattern and the reason it gives; no
model is asked. A criterion is flagged by every rule that fires on it:

- `vague`: a word that says how the result should feel ("works well", "robust", "clean",
  "user-friendly") and nothing a test could observe;
- `unmeasured`: a performance claim ("fast", "scales") with no number to hold it to;
- `untestable`: it names no command, flag, file, output, number, quoted text or outcome
  verb a test could exercise, and no gate of `.middle/verify.toml`.

A criterion that names a gate (its name or its command) is verifiable by that gate, which
answers `vague` and `untestable` (say "`ruff check .` is clean" and the `lint` gate
checks it). Then, for the issue as a whole, the reference's integration rule: at least one
criterion must wire the feature into the running product (a command, an endpoint, the
CLI) and prove it with a real-path test (integration, e2e, smoke), unless the body says
`integration-exempt: REASON`. An issue with no criteria is flagged too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from middle.verify.gates import Gate


@dataclass(frozen=True)
class Rule:
    name: str
    reason: str


VAGUE = Rule(
    "vague",
    "says how it should feel ({word!r}), not what to observe; name the outcome a test checks",
)
UNMEASURED = Rule(
    "unmeasured",
    "a performance claim ({word!r}) with no threshold; give the number (e.g. < 300 ms median)",
)
UNTESTABLE = Rule(
    "untestable",
    "names no command, file, output or behaviour a test could exercise, and no gate",
)
NO_CRITERIA = Rule(
    "no-criteria", "the issue has no acceptance criteria; add an `## Acceptance criteria` list"
)
NO_INTEGRATION = Rule(
    "no-integration",
    "no criterion wires the feature into the running product (a command, the CLI, an "
    "endpoint) and proves it with an integration, e2e or smoke test; add one, or write "
    "integration-exempt: REASON",
)
RULES = (VAGUE, UNMEASURED, UNTESTABLE, NO_CRITERIA, NO_INTEGRATION)


def _words(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)


_VAGUE = _words(
    r"works? (?:well|fine|nicely|smoothly)", r"user[- ]friendly", r"robust(?:ly)?",
    r"clean(?:ly)?", r"intuitive(?:ly)?", r"seamless(?:ly)?", r"elegant(?:ly)?",
    r"easy to (?:use|read|understand)", r"nice(?:ly)?", r"as expected", r"properly",
    r"good", r"better", r"reliabl[ey]", r"polished",
)  # fmt: skip
_PERFORMANCE = _words(
    r"fast(?:er)?", r"quick(?:ly|er)?", r"slow(?:er)?", r"performant", r"efficient(?:ly)?",
    r"scal(?:e|es|able)", r"responsive", r"low[- ]latency", r"lightweight", r"snappy",
    r"performance", r"speed",
)  # fmt: skip
_THRESHOLD = re.compile(
    r"\d+(?:\.\d+)?\s*(?:ms|s\b|sec|seconds?|minutes?|%|[kmg]i?b\b|x\b|times|rps|qps|"
    r"requests|files|rows|items|p\d\d)",
    re.I,
)
# What a test can get hold of: code spans, flags, paths, numbers, quoted text, an outcome.
_OBSERVABLE = re.compile(
    r"`[^`]+`|(?<!\w)--?[a-z][\w-]*|\b[\w.-]+/[\w./-]+|\b\w+\.(?:py|md|toml|json|ya?ml|"
    r"txt|sh|ts|js)\b|\d|\"[^\"]+\"|'[^']+'|" + r"\b(?:returns?|prints?|exits?|writes?|"
    r"creates?|raises?|refuses?|rejects?|fails?|shows?|lists?|records?|emits?|sends?|"
    r"responds?|adds?|removes?|deletes?|renders?|posts?|stores?|logs?|retries|retry|"
    r"errors?|displays?|redirects?|saves?|outputs?|exit code|status code)\b",
    re.I,
)
# The reference's integration rule: a wiring signal and a real-path-test signal.
_WIRING = re.compile(
    r"\b(?:serves?|served|mounts?|mounted|invoke[ds]?|reachable|wired|registers?|registered|"
    r"dispatch(?:es|ed)?|boots?|launch(?:es|ed)?|endpoints?|routes?|running product|"
    r"the daemon|the cli|the dashboard|end-to-end)\b|\b(?:GET|POST|PUT|PATCH|DELETE)\b|"
    r"`?middle\s+[a-z-]+|\bmm\s+[a-z-]+",
)
_REAL_PATH = _words(
    r"integration[ -]?tests?", r"smoke[ -]?tests?", r"e2e", r"end-to-end",
    r"exercis(?:e|es|ing)", r"drives? the", r"runs? the real", r"real path", r"through the real",
)  # fmt: skip
_EXEMPT = re.compile(r"integration-exempt:\s*\S", re.I)


@dataclass(frozen=True)
class Flag:
    rule: str
    reason: str


@dataclass(frozen=True)
class Finding:
    """One line of the audit: a criterion (None for the issue as a whole), what
    verifies it (`gate lint`, or ""), and the rules it breaks."""

    criterion: str | None
    flags: tuple[Flag, ...] = ()
    verified_by: str = ""

    @property
    def ok(self) -> bool:
        return not self.flags

    def as_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "ok": self.ok,
            "verified_by": self.verified_by or None,
            "flags": [{"rule": f.rule, "reason": f.reason} for f in self.flags],
        }


@dataclass(frozen=True)
class Audit:
    findings: tuple[Finding, ...]
    gates: tuple[str, ...] = field(default=())

    @property
    def flagged(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def ok(self) -> bool:
        return not self.flagged

    def summary(self) -> str:
        criteria = [f for f in self.findings if f.criterion is not None]
        bad = [f for f in criteria if not f.ok]
        issue = [f.flags[0].rule for f in self.findings if f.criterion is None]
        said = f"{len(criteria)} criteria: {len(criteria) - len(bad)} ok, {len(bad)} flagged"
        return said + (f"; the issue: {', '.join(issue)}" if issue else "")


def _flag(rule: Rule, **words: str) -> Flag:
    return Flag(rule.name, rule.reason.format(**words))


def _gate_named(criterion: str, gates: Sequence[Gate]) -> Gate | None:
    lowered = criterion.lower()
    for gate in gates:
        command = gate.argv[-1] if gate.argv[:2] == ("sh", "-c") else " ".join(gate.argv)
        named = re.search(rf"\b{re.escape(gate.name.lower())}\b", lowered)
        if named or command.lower() in lowered:
            return gate
    return None


def audit_criterion(criterion: str, gates: Sequence[Gate] = ()) -> Finding:
    """The rules one criterion breaks (none when it is verifiable)."""
    gate = _gate_named(criterion, gates)
    flags: list[Flag] = []
    vague = _VAGUE.search(criterion)
    if vague and gate is None:
        flags.append(_flag(VAGUE, word=vague[0]))
    claim = _PERFORMANCE.search(criterion)
    if claim and not _THRESHOLD.search(criterion):
        flags.append(_flag(UNMEASURED, word=claim[0]))
    if gate is None and not _OBSERVABLE.search(criterion):
        flags.append(_flag(UNTESTABLE))
    return Finding(criterion, tuple(flags), f"gate {gate.name}" if gate else "")


def is_integration_criterion(criterion: str) -> bool:
    """The reference's integration criterion: it wires the feature into the running
    product and proves it with a real-path test."""
    return bool(_WIRING.search(criterion) and _REAL_PATH.search(criterion))


def audit(criteria: Sequence[str], *, body: str = "", gates: Sequence[Gate] = ()) -> Audit:
    """Audit an issue's criteria; `body` is searched for `integration-exempt:`."""
    findings = [audit_criterion(c, gates) for c in criteria]
    if not criteria:
        findings.append(Finding(None, (_flag(NO_CRITERIA),)))
    elif not _EXEMPT.search(body) and not any(is_integration_criterion(c) for c in criteria):
        findings.append(Finding(None, (_flag(NO_INTEGRATION),)))
    return Audit(tuple(findings), tuple(g.name for g in gates))
