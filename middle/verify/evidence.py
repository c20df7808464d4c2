"""Evidence rules: a done counts only when every acceptance criterion carries evidence.

Evidence for one criterion is one or more of:

- a URL (`https://...`) or a `#n` reference;
- a commit SHA (7 to 40 hex digits) that is on the branch (an ancestor of its head);
- a path, optionally `:line`, that exists in the head commit (the line too);
- a test id, `tests/x.py::test_y` (or `tests/x.py::TestK::test_y`), whose file exists in
  the head commit and defines `test_y`, and that no failing gate ran (a gate whose command
  names the file or the id, or whose output names the id);
- `(deferred: REF)`, where REF is a comment by a trusted human: a comment URL in GitHub
  mode, the id of a human's answer in the Epic's conversation in file mode.

`(integration-exempt: REF)` (REF as for a deferral) is not evidence for a criterion: it
answers `require_integration`, which otherwise wants at least one criterion evidenced by
an integration or e2e test (a test id or path with an `integration` or `e2e` part).

Every named item must hold: one that does not fails the criterion even if another holds,
so a made-up path next to a real URL is still refused. An empty criteria list fails, so
deleting the section does not pass.

Where the criteria and their evidence come from: the criteria are always the issue's, so
leaving one out of the PR body does not pass. In GitHub mode the evidence is on the PR
body's line for each criterion (`body_evidence`: list items, checkbox or plain, under any
heading that says "acceptance", up to the next heading, as the reference's
`parseAcceptanceCriteria` reads them); in file mode, and on GitHub Actions where the agent
cannot edit the PR, it is `done.json`'s `evidence` list.

This module judges; `EvidenceFacts` answers the questions about the world (git, and who
wrote a comment), so the rules are tested against a real repository and any store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from middle.errors import GitError
from middle.system.git import git
from middle.verify.gates import Gate, GateResult

_HEADING = re.compile(r"^#{1,6}\s")
_ITEM = re.compile(r"^\s*[-*]\s+(?:\[[ xX]\]\s+)?(.*\S)\s*$")
_ANNOTATION = re.compile(r"\((deferred|integration-exempt):\s*(\S+?)\s*\)", re.I)
_URL = re.compile(r"https?://[^\s)>\]`]+")
_ISSUE = re.compile(r"(?<![\w/&])#[0-9]+\b")
_BACKTICKED = re.compile(r"`([^`\s]+)`")
_SHA = re.compile(r"[0-9a-f]{7,40}")
_TEST_ID = re.compile(r"(?P<path>[^\s:]+\.py)::(?P<names>[A-Za-z_][\w:]*)(?:\[[^\]]*\])?")
_PATH = re.compile(r"(?P<path>[^\s:]+)(?::(?P<line>[1-9][0-9]*))?")
_INTEGRATION = re.compile(r"integration|e2e", re.I)

# What the rules accept, said once for the nudge and the brief.
ACCEPTED = (
    "a URL or #n, a commit SHA on your branch, a path (optionally :line) or a test id "
    "(tests/x.py::test_y) in your committed head, or (deferred: REF) where REF is a "
    "trusted human's comment or answer"
)


@dataclass(frozen=True)
class EvidencePolicy:
    """`[verify]`: whether a done needs evidence, and an integration test among it."""

    required: bool
    require_integration: bool


def evidence_policy(config: Mapping[str, Any], *, has_verify_file: bool) -> EvidencePolicy:
    """`[verify] evidence` ("required" by default when the repo has a `.middle/verify.toml`
    on its base branch, else "off") and `[verify] require_integration` (default false)."""
    table = config.get("verify") or {}
    mode = table.get("evidence") or ("required" if has_verify_file else "off")
    return EvidencePolicy(mode == "required", bool(table.get("require_integration", False)))


def criteria_in_body(body: str) -> list[str]:
    """The acceptance criteria of a PR body, by the reference's rules: the list items
    (`- [ ] x`, `- [x] x`, `- x`, `* x`) under every heading whose text says
    "acceptance", each up to the next heading. The tick does not matter."""
    criteria: list[str] = []
    inside = False
    for line in body.splitlines():
        if _HEADING.match(line):
            inside = "acceptance" in line.lower()
            continue
        item = _ITEM.match(line) if inside else None
        if item:
            criteria.append(item[1])
    return criteria


def evidence_in_line(line: str) -> list[str]:
    """The evidence items a criterion's line names: its `(deferred: ...)` and
    `(integration-exempt: ...)` notes, URLs, `#n` references, and backticked spans that
    look like a commit, a path or a test id (a backticked `middle status` is prose)."""
    found = [f"({kind.lower()}: {ref})" for kind, ref in _ANNOTATION.findall(line)]
    rest = _ANNOTATION.sub(" ", line)
    found += _URL.findall(rest)
    rest = _URL.sub(" ", rest)
    found += _ISSUE.findall(rest)
    for span in _BACKTICKED.findall(rest):
        named = "/" in span or "::" in span or PurePosixPath(span.split(":")[0]).suffix
        if _SHA.fullmatch(span) or named:
            found.append(span)
    return found


@dataclass(frozen=True)
class Item:
    """One evidence item as judged: `kind` is url, issue, commit, path, test, deferred,
    integration-exempt or unknown; `why` says what is wrong ("" when it holds)."""

    text: str
    kind: str
    why: str = ""
    integration: bool = False

    @property
    def holds(self) -> bool:
        return not self.why


@dataclass(frozen=True)
class Judgement:
    criterion: str
    items: tuple[Item, ...]

    @property
    def evidence(self) -> tuple[Item, ...]:
        """The items that speak for the criterion (an integration exemption does not)."""
        return tuple(i for i in self.items if i.kind != "integration-exempt")

    @property
    def why(self) -> str:
        """What is wrong with the criterion's evidence ("" when it stands)."""
        wrong = [f"{i.text}: {i.why}" for i in self.items if not i.holds]
        if wrong:
            return "; ".join(wrong)
        return "" if self.evidence else "no evidence given"

    @property
    def holds(self) -> bool:
        return not self.why


@dataclass(frozen=True)
class Verdict:
    judgements: tuple[Judgement, ...]
    problems: tuple[str, ...] = ()  # not about one criterion: an empty section, integration

    @property
    def ok(self) -> bool:
        return not self.problems and all(j.holds for j in self.judgements)

    @property
    def lacking(self) -> list[Judgement]:
        return [j for j in self.judgements if not j.holds]

    def report(self) -> str:
        """One line for the agent (typed into its CLI) and for a person: each criterion
        that lacks evidence and why, and what counts."""
        said = [*self.problems]
        said += [f'"{j.criterion}" ({j.why})' for j in self.lacking]
        return " ".join(
            f"Not done yet: the acceptance criteria need evidence. {'; '.join(said)}. "
            f"Evidence is {ACCEPTED}.".split()
        )

    def accepted(self) -> list[dict[str, str]]:
        """The evidence as it stands, criterion by criterion, for the record."""
        return [
            {"criterion": j.criterion, "evidence": " ".join(i.text for i in j.items)}
            for j in self.judgements
        ]


@dataclass
class EvidenceFacts:
    """What the rules ask of the world. `repo` and `head` (the branch's head commit) are
    read with git; `deferral(ref)` is None when REF is a trusted human's comment or
    answer, else why not; `failing` are the gates that failed on `head`, with their
    results, so a test they ran does not count."""

    repo: Path
    head: str
    deferral: Callable[[str], str | None]
    failing: Sequence[tuple[Gate, GateResult]] = ()
    _files: dict[str, str | None] = field(default_factory=dict, repr=False)

    def on_branch(self, sha: str) -> bool:
        try:
            full = git("rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}", cwd=self.repo)
            git("merge-base", "--is-ancestor", full, self.head, cwd=self.repo)
        except GitError:
            return False
        return True

    def file(self, path: str) -> str | None:
        """The text of `path` in the head commit; None if it is not a file there."""
        if path not in self._files:
            try:
                git("cat-file", "-e", f"{self.head}:{path}", cwd=self.repo)
                kind = git("cat-file", "-t", f"{self.head}:{path}", cwd=self.repo)
                text = git("cat-file", "blob", f"{self.head}:{path}", cwd=self.repo)
                self._files[path] = text if kind == "blob" else None
            except GitError:
                self._files[path] = None
        return self._files[path]

    def failing_gate_ran(self, path: str, test_id: str) -> str | None:
        """The failing gate that ran this test, if one did."""
        for gate, result in self.failing:
            if any(path in part or test_id in part for part in gate.argv) or test_id in (
                result.tail
            ):
                return gate.name
        return None


def judge_item(text: str, facts: EvidenceFacts) -> Item:
    """Judge one evidence item (its whole text, backticks allowed)."""
    text = text.strip().strip("`").strip()
    annotation = _ANNOTATION.fullmatch(text)
    if annotation:
        kind, ref = annotation[1].lower(), annotation[2]
        return Item(text, kind, facts.deferral(ref) or "")
    if _URL.fullmatch(text):
        return Item(text, "url")
    if re.fullmatch(r"#[0-9]+", text):
        return Item(text, "issue")
    if _SHA.fullmatch(text):
        if facts.on_branch(text):
            return Item(text, "commit")
        return Item(text, "commit", f"not a commit on the branch (head {facts.head[:12]})")
    test = _TEST_ID.fullmatch(text)
    if test:
        return _judge_test(text, test["path"], test["names"].split("::")[-1], facts)
    path = _PATH.fullmatch(text)
    if path and _safe(path["path"]):
        return _judge_path(text, path["path"], path["line"], facts)
    return Item(text, "unknown", f"not evidence; evidence is {ACCEPTED}")


def _safe(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and ".." not in parts


def _integration(path: str) -> bool:
    return any(_INTEGRATION.search(part) for part in PurePosixPath(path).parts)


def _judge_test(text: str, path: str, name: str, facts: EvidenceFacts) -> Item:
    source = facts.file(path) if _safe(path) else None
    head = facts.head[:12]
    if source is None:
        return Item(text, "test", f"no file {path} in the head commit {head}")
    if not re.search(rf"^\s*(?:async\s+)?def {re.escape(name)}\(", source, re.M):
        return Item(text, "test", f"{path} defines no {name} in the head commit {head}")
    gate = facts.failing_gate_ran(path, text)
    if gate is not None:
        return Item(text, "test", f"gate {gate!r}, which runs it, failed on {head}")
    return Item(text, "test", integration=_integration(path))


def _judge_path(text: str, path: str, line: str | None, facts: EvidenceFacts) -> Item:
    source = facts.file(path.rstrip("/"))
    head = facts.head[:12]
    if source is None:
        return Item(text, "path", f"no file {path} in the head commit {head}")
    if line is not None and int(line) > len(source.splitlines()):
        return Item(text, "path", f"{path} has no line {line} in the head commit {head}")
    return Item(text, "path", integration=_integration(path))


def judge(
    criteria: Sequence[str],
    evidence: Mapping[str, Iterable[str]],
    facts: EvidenceFacts,
    *,
    require_integration: bool = False,
) -> Verdict:
    """Judge each criterion by the evidence given for it (`evidence[criterion]`, as items;
    a criterion missing from it has none)."""
    if not criteria:
        empty = "the acceptance criteria section is empty or missing (deleting it does not pass)"
        return Verdict((), (empty,))
    judgements = tuple(
        Judgement(c, tuple(judge_item(i, facts) for i in evidence.get(c, ()))) for c in criteria
    )
    problems: tuple[str, ...] = ()
    if require_integration:
        items = [i for j in judgements for i in j.items if i.holds]
        exempt = any(i.kind == "integration-exempt" for i in items)
        if not exempt and not any(i.integration for i in items):
            problems = (
                "no criterion is evidenced by an integration or e2e test (a test or path "
                "with an `integration` or `e2e` part), and no human wrote "
                "(integration-exempt: REF)",
            )
    return Verdict(judgements, problems)


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def body_evidence(body: str, criteria: Sequence[str]) -> dict[str, list[str]]:
    """GitHub mode: the evidence a PR body gives each of the issue's `criteria`, from the
    acceptance-section line that starts with the criterion's text (case and spacing
    aside, as `done_evidence` matches), read after that text, so a criterion's own words
    are not its evidence. A line counts for the longest criterion it starts with; a
    criterion with no line has no evidence."""
    longest_first = sorted(criteria, key=lambda c: len(_normal(c)), reverse=True)
    found: dict[str, list[str]] = {}
    for line in criteria_in_body(body):
        squeezed = " ".join(line.split())
        for criterion in longest_first:
            wanted = _normal(criterion)
            size = len(" ".join(criterion.split()))
            rest = squeezed[size:]
            if squeezed[:size].casefold() == wanted and not re.match(r"\w", rest):
                found.setdefault(criterion, []).extend(evidence_in_line(rest))
                break
    return found


def done_evidence(done: Mapping[str, Any], criteria: Sequence[str]) -> dict[str, list[str]]:
    """File mode: `done.json`'s `evidence` list as items per criterion (matched by text,
    ignoring case and spacing). An entry's `evidence` is one item, or several as a list."""
    known = {_normal(c): c for c in criteria}
    found: dict[str, list[str]] = {}
    entries = done.get("evidence")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        criterion = known.get(_normal(str(entry.get("criterion", ""))))
        given = entry.get("evidence")
        items = given if isinstance(given, list) else [given]
        texts = [str(i) for i in items if isinstance(i, str | int) and str(i).strip()]
        if criterion is not None and texts:
            found.setdefault(criterion, []).extend(texts)
    return found


class EvidenceSource(Protocol):
    """What the check asks of an issue store: the criteria and the evidence given for
    them, and whether a deferral is a trusted human's."""

    def criteria_evidence(
        self, ref: str, branch: str, done: Mapping[str, Any]
    ) -> tuple[list[str], dict[str, list[str]]]: ...

    def deferral(self, ref: str, text: str) -> str | None: ...


def check_evidence(
    source: EvidenceSource,
    *,
    repo: Path,
    ref: str,
    branch: str,
    head: str,
    done: Mapping[str, Any],
    policy: EvidencePolicy,
    failing: Sequence[tuple[Gate, GateResult]] = (),
) -> Verdict:
    """The evidence check, as a done and `gh pr ready` both run it: the issue's criteria
    and their evidence, judged on `head` of `branch`."""
    facts = EvidenceFacts(repo, head, lambda text: source.deferral(ref, text), failing)
    criteria, given = source.criteria_evidence(ref, branch, done)
    return judge(criteria, given, facts, require_integration=policy.require_integration)
