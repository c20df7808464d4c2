"""Parse a v1 state issue body, strictly: exactly the layout `render` writes.

Strict on shape, because the guarantee callers build on is `render(parse(text)) == text`
byte for byte: the dispatcher rewrites its own sections by parsing, replacing and
rendering, and nothing an agent or a person wrote may move. The one leniency is the one
the schema grants: a list section whose bullets are all italic placeholders (`- _none_`)
reads as empty, and the placeholders are kept so they render back as they were. Dispatcher
tick comments may stand between sections and before the first one, with or without blank
lines around them; they are kept, with those blank lines, where they stood.

Bodies an older middle wrote (`interval: off` or `1h30m`, a Rate limits line per adapter)
still read, and render back as they were; what middle writes now is v1 as the reference
reads it (`v1_interval`, `v1_rate_limits`).

Every refusal is a `StateIssueError` naming the line (counted in the whole body) and what
was expected there.
"""

from __future__ import annotations

import re
from datetime import datetime

from middle.errors import StateIssueError
from middle.state_issue.model import (
    CLOSE_MARKER,
    EXCLUDED_CATEGORIES,
    IN_FLIGHT_EMPTY,
    NEEDS_LABELS,
    OPEN_MARKER,
    READY_EMPTY,
    READY_HEADER,
    READY_RULE,
    REASON_LIMIT,
    SECTIONS,
    TITLE_LIMIT,
    BlockedItem,
    Blocker,
    Excluded,
    InFlight,
    NeedsHuman,
    RateLimit,
    ReadyRow,
    SlotUsage,
    StateIssue,
)

_REF = r"#(?P<ref>[^\s*]+)"
_GENERATED = re.compile(
    r"<!-- generated: (?P<generated>\S+) · run: (?P<run>[0-9a-f]{8}) · "
    r"interval: (?P<interval>\S+) -->"
)
_OWNERS = re.compile(r"<!-- owners: recommender=(?P<rec>[^,\s]+), dispatcher=(?P<disp>\S+) -->")
_INTERVAL = re.compile(r"off|(?:\d+[smhd])+")
_TICK = re.compile(r"<!-- dispatcher-tick: [^>]*-->")
_READY_ROW = re.compile(
    r"\| (?P<rank>0|[1-9]\d*) \| #(?P<ref>[^\s*|]+) (?P<title>[^|]+?) \| (?P<adapter>[^\s|]+) \| "
    r"(?P<subs>0|[1-9]\d*) \| (?P<reason>[^|]+?) \|"
)
_NEEDS = re.compile(
    rf"- \*\*{_REF} (?P<label>[^*]+)\*\* — (?P<summary>.+) · \[link\]\((?P<link>[^()\s]*)\)"
)
_BLOCKED = re.compile(rf"- \*\*{_REF}\*\* waiting on (?P<rest>.+)")
_ISSUE_BLOCKER = re.compile(r"(?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?#[^\s*()`]+")
_IN_FLIGHT = re.compile(
    rf"- \*\*{_REF}\*\* · (?P<adapter>[^\s·]+) · (?P<progress>sub-issue \d+/\d+|running) · "
    r"last heartbeat (?P<heartbeat>.+?) · \[tmux: (?P<session>[^\]\s]+)\]"
)
_EXCLUDED = re.compile(rf"- \*\*{_REF}\*\* (?P<category>.+?) — (?P<detail>.+)")
_RATE = re.compile(r"- (?P<name>[A-Za-z0-9_.-]+): (?P<status>.+)")
_ISO = r"\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)"
_RATE_STATUS = re.compile(
    rf"AVAILABLE|UNKNOWN|RATE LIMITED until {_ISO} \(in [^()]+\)|EXHAUSTED until {_ISO}"
    r"|\d+/\d+ req/hr · resets in .+"
)
_SLOT = re.compile(r"- (?P<name>[A-Za-z0-9_.-]+): (?P<used>0|[1-9]\d*)/(?P<max>0|[1-9]\d*)")
_PLACEHOLDER = re.compile(r"- (?:_[^_].*_|\*[^*].*\*)")
_NOT_MARKDOWN = re.compile(r"[*_\[\]<>~|]")


def parse(text: str) -> StateIssue:
    """The `StateIssue` in `text`; `StateIssueError` names the first line that is wrong."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.base = 0  # lines of `text` before the opening marker
        self.lines: list[str] = []
        self.i = 0

    def fail(self, expected: str, index: int | None = None) -> StateIssueError:
        index = self.i if index is None else index
        found = self.lines[index] if index < len(self.lines) else CLOSE_MARKER
        return StateIssueError(
            f"state issue line {self.base + index + 1}: expected {expected}, found {found!r}"
        )

    def parse(self) -> StateIssue:
        before, newline, after = self.split()
        meta = _GENERATED.fullmatch(self.lines[1]) if len(self.lines) > 1 else None
        if meta is None:
            raise self.fail(
                "`<!-- generated: <ISO 8601> · run: <8 hex> · interval: <duration> -->`", 1
            )
        if not _is_iso(meta["generated"]):
            raise self.fail("an ISO 8601 time after `generated:`", 1)
        if not _INTERVAL.fullmatch(meta["interval"]):
            raise self.fail("an interval in whole minutes, such as `15m` (`0m`: off)", 1)
        owners = _OWNERS.fullmatch(self.lines[2]) if len(self.lines) > 2 else None
        if owners is None:
            raise self.fail("`<!-- owners: recommender=..., dispatcher=... -->`", 2)
        self.i = 3
        self.expect_blank()
        bodies: dict[str, tuple[int, list[str]]] = {}
        ticks = [(-1, line) for line in self.gap()]
        for index, name in enumerate(SECTIONS):
            bodies[name] = self.section(name)
            ticks += [(index, line) for line in self.gap()]
        if self.i < len(self.lines):
            raise self.fail(f"`{CLOSE_MARKER}` after the Slot usage section")
        placeholders: list[tuple[str, tuple[str, ...]]] = []
        lists: dict[str, list[tuple[int, str]]] = {}
        for name in ("Needs human input", "Blocked", "In-flight", "Excluded"):
            start, body = bodies[name]
            canonical_empty = [IN_FLIGHT_EMPTY] if name == "In-flight" else []
            if body == canonical_empty:
                lists[name] = []
            elif all(_PLACEHOLDER.fullmatch(x) and not x.startswith("- **") for x in body):
                placeholders.append((name, tuple(body)))
                lists[name] = []
            else:
                lists[name] = [(start + k, line) for k, line in enumerate(body)]
        return StateIssue(
            generated=meta["generated"],
            run_id=meta["run"],
            interval=meta["interval"],
            ready=self.ready(*bodies["Ready to dispatch"]),
            needs_human=tuple(self.needs(k, line) for k, line in lists["Needs human input"]),
            blocked=tuple(self.blocked(k, line) for k, line in lists["Blocked"]),
            in_flight=tuple(self.in_flight(k, line) for k, line in lists["In-flight"]),
            excluded=tuple(self.excluded(k, line) for k, line in lists["Excluded"]),
            rate_limits=self.rate_limits(*bodies["Rate limits"]),
            slots=self.slots(*bodies["Slot usage"]),
            owners=(owners["rec"], owners["disp"]),
            placeholders=tuple(placeholders),
            ticks=tuple(ticks),
            before=before,
            after=after,
            newline=newline,
        )

    def split(self) -> tuple[str, str, str]:
        """Find the markers: set `self.lines` to the lines between them (the opening
        marker is line 0) and return what lies outside, and the newline style."""
        offset = 0
        for number, line in enumerate(self.text.splitlines(keepends=True)):
            if line.rstrip("\r\n") == OPEN_MARKER:
                newline = line[len(OPEN_MARKER) :]
                self.base = number
                break
            offset += len(line)
        else:
            raise StateIssueError(f"state issue: expected `{OPEN_MARKER}` on a line of its own")
        if newline not in ("\n", "\r\n"):
            raise StateIssueError(
                f"state issue line {self.base + 1}: expected the metadata after the marker"
            )
        close = self.text.find(newline + CLOSE_MARKER, offset)
        while close != -1:
            end = close + len(newline) + len(CLOSE_MARKER)
            if end == len(self.text) or self.text[end] in "\r\n":
                break
            close = self.text.find(newline + CLOSE_MARKER, end)
        if close == -1:
            raise StateIssueError(
                f"state issue line {self.base + 1}: expected `{CLOSE_MARKER}` on a line of its "
                "own to close the marker here"
            )
        self.lines = self.text[offset:close].split(newline)
        for index, line in enumerate(self.lines):
            if "\r" in line or (newline == "\r\n" and "\n" in line):
                raise self.fail(f"one newline style ({newline!r}) throughout", index)
        return self.text[:offset], newline, self.text[end:]

    def gap(self) -> list[str]:
        """The dispatcher tick comments at `self.i`, with the blank lines around them as
        written: v1 lets a dispatcher put them between sections (the reference's puts one
        above the first section, and leaves a blank line behind when it drops an old one).
        Blank lines with no tick among them are not v1's layout: they are left unread."""
        end = self.i
        while end < len(self.lines) and (self.lines[end] == "" or _TICK.fullmatch(self.lines[end])):
            end += 1
        found = self.lines[self.i : end]
        if not any(found):
            return []
        self.i = end
        return found

    def expect_blank(self) -> None:
        if self.i >= len(self.lines) or self.lines[self.i] != "":
            raise self.fail("a blank line")
        self.i += 1

    def section(self, name: str) -> tuple[int, list[str]]:
        if self.i >= len(self.lines) or self.lines[self.i] != f"## {name}":
            raise self.fail(f"the section heading `## {name}` (seven sections, in v1 order)")
        self.i += 1
        self.expect_blank()
        start = self.i
        body: list[str] = []
        while self.i < len(self.lines) and self.lines[self.i] != "":
            line = self.lines[self.i]
            if line.startswith("## ") or _TICK.fullmatch(line):
                if body:
                    raise self.fail(f"a blank line ending the {name} section")
                return start, body
            body.append(line)
            self.i += 1
        if body:
            self.expect_blank()
        return start, body

    def ready(self, start: int, body: list[str]) -> tuple[ReadyRow, ...]:
        if not body or body[0] != READY_HEADER:
            raise self.fail(f"the table header `{READY_HEADER}`", start)
        if len(body) < 2 or body[1] != READY_RULE:
            raise self.fail(f"the table rule `{READY_RULE}`", start + 1)
        if body[2:] == [READY_EMPTY]:
            return ()
        rows: list[ReadyRow] = []
        for k, line in enumerate(body[2:], start=start + 2):
            match = _READY_ROW.fullmatch(line)
            if match is None:
                raise self.fail(
                    f"a row `| <rank> | #<n> <title> | <adapter> | <open sub-issues> | "
                    f"<reason> |` or, alone, `{READY_EMPTY}`",
                    k,
                )
            if match["rank"] != str(len(rows) + 1):
                raise self.fail(f"rank {len(rows) + 1} (ranks run 1, 2, 3, ...)", k)
            title, reason = match["title"], match["reason"]
            if title != title.strip() or len(title) > TITLE_LIMIT:
                raise self.fail(f"a title of at most {TITLE_LIMIT} characters (cut with …)", k)
            problem = reason_problem(reason)
            if problem:
                raise self.fail(problem, k)
            rows.append(
                ReadyRow(
                    len(rows) + 1,
                    match["ref"],
                    title,
                    match["adapter"],
                    _count(match["subs"]),
                    reason,
                )
            )
        if not rows:
            raise self.fail(f"at least one row, or `{READY_EMPTY}`", start + 2)
        return tuple(rows)

    def needs(self, k: int, line: str) -> NeedsHuman:
        match = _NEEDS.fullmatch(line)
        if match is None or match["label"] not in NEEDS_LABELS:
            raise self.fail(
                "`- **#<n> <label>** — <one-liner> · [link](<url>)` with a label from: "
                + ", ".join(NEEDS_LABELS),
                k,
            )
        return NeedsHuman(match["ref"], match["label"], match["summary"], match["link"])

    def blocked(self, k: int, line: str) -> BlockedItem:
        match = _BLOCKED.fullmatch(line)
        expected = "`- **#<n>** waiting on <#m | owner/repo#m | `description`> · <context>`"
        if match is None:
            raise self.fail(expected, k)
        rest: str = match["rest"]
        if rest.startswith("`"):
            end = rest.find("`", 1)
            if end <= 1:
                raise self.fail(expected, k)
            blocker, rest = Blocker(rest[: end + 1]), rest[end + 1 :]
        else:
            issue = _ISSUE_BLOCKER.match(rest)
            if issue is None:
                raise self.fail(expected, k)
            ref, rest = issue[0], rest[issue.end() :]
            note = None
            if rest.startswith(" ("):
                close = rest.find(") · ")
                if close == -1:
                    raise self.fail("`) · <context>` after the blocker's annotation", k)
                note, rest = rest[2:close], rest[close + 1 :]
            blocker = Blocker(ref, note)
        if not rest.startswith(" · ") or not rest[3:].strip() or rest[3:] != rest[3:].strip():
            raise self.fail(expected, k)
        return BlockedItem(match["ref"], blocker, rest[3:])

    def in_flight(self, k: int, line: str) -> InFlight:
        match = _IN_FLIGHT.fullmatch(line)
        if match is None:
            raise self.fail(
                "`- **#<ref>** · <adapter> · <sub-issue m/n | running> · last heartbeat "
                f"<rel> · [tmux: <session>]` or `{IN_FLIGHT_EMPTY}`",
                k,
            )
        return InFlight(
            match["ref"], match["adapter"], match["progress"], match["heartbeat"], match["session"]
        )

    def excluded(self, k: int, line: str) -> Excluded:
        match = _EXCLUDED.fullmatch(line)
        if match is None or match["category"] not in EXCLUDED_CATEGORIES:
            raise self.fail(
                "`- **#<n>** <category> — <detail>` with a category from: "
                + ", ".join(EXCLUDED_CATEGORIES),
                k,
            )
        return Excluded(match["ref"], match["category"], match["detail"])

    def rate_limits(self, start: int, body: list[str]) -> tuple[RateLimit, ...]:
        found = []
        for k, line in enumerate(body, start=start):
            match = _RATE.fullmatch(line)
            if match is None or not _RATE_STATUS.fullmatch(match["status"]):
                raise self.fail(
                    "`- <name>: AVAILABLE | RATE LIMITED until <ISO> (in <rel>) | UNKNOWN`, "
                    "or for github `<n>/<m> req/hr · resets in <rel> | EXHAUSTED until <ISO>`",
                    k,
                )
            found.append(RateLimit(match["name"], match["status"]))
        return tuple(found)

    def slots(self, start: int, body: list[str]) -> SlotUsage:
        parsed = []
        for k, line in enumerate(body, start=start):
            match = _SLOT.fullmatch(line)
            if match is None:
                raise self.fail("`- <adapter>: <used>/<max>`", k)
            parsed.append((match["name"], _count(match["used"]), _count(match["max"])))
        if len(parsed) < 2 or parsed[-2][0] != "total" or parsed[-1][0] != "global":
            raise self.fail("`- total: <used>/<max>` then `- global: <used>/<max>` last", start)
        if any(name in ("total", "global") for name, _, _ in parsed[:-2]):
            raise self.fail("one `total` and one `global` line, last", start)
        return SlotUsage(tuple(parsed[:-2]), parsed[-2][1:], parsed[-1][1:])


def reason_problem(reason: str) -> str | None:
    """Why `reason` is not a v1 Ready reason, or None when it is one."""
    if not reason or reason != reason.strip() or len(reason) > REASON_LIMIT:
        return f"a reason of 1 to {REASON_LIMIT} characters on one line"
    outside = reason.split("`")
    if len(outside) % 2 == 0:
        return "balanced backticks in the reason"
    if any(_NOT_MARKDOWN.search(part) for part in outside[::2]):
        return "no markdown but backticks in the reason (wrap code in backticks)"
    return None


def _count(digits: str) -> int:
    return int(digits)  # the patterns admit no leading zeros, so this renders back as read


def _is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
