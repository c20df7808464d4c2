"""git's unified diff, parsed: pure functions over the text `git diff` prints.

A diff is the agent's text, so it is untrusted: this module only reads it (nothing here
renders or runs it), and every path it names is as git printed it, C-unquoted.

`parse_diff(text)` gives one `FileDiff` per file, in git's order, each with its hunks and
its lines numbered on both sides. A binary file has no hunks; a file whose patch is longer
than `max_file_lines` keeps its counts but not its lines (`too_large`), so a huge
generated file is named, not inlined. `changed_old_lines` says which lines of a file's
old side a diff removed or rewrote: what marks a review comment on them resolved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r"}


@dataclass(frozen=True)
class Line:
    """One line of a hunk: `kind` is `add`, `del` or `ctx`; `old` / `new` its number on
    each side (None on the side it is not on)."""

    kind: str
    old: int | None
    new: int | None
    text: str


@dataclass
class Hunk:
    old_start: int
    new_start: int
    section: str  # the function line git prints after `@@` ("" if none)
    lines: list[Line] = field(default_factory=list)


@dataclass
class FileDiff:
    """One file's change. `path` is its path on the new side (the old one for a deleted
    file); `status` is added, deleted, modified or renamed."""

    path: str
    old_path: str
    status: str = "modified"
    binary: bool = False
    too_large: bool = False
    additions: int = 0
    deletions: int = 0
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many lines its hunks hold (what rendering it costs)."""
        return sum(len(hunk.lines) for hunk in self.hunks)


def unquote(name: str) -> str:
    """A path as git prints it, C-quoted (`"tab\\there"`) when it holds unusual bytes."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    body, out, i = name[1:-1], bytearray(), 0
    while i < len(body):
        char = body[i]
        if char != "\\" or i + 1 == len(body):
            out += char.encode("utf-8", "surrogateescape")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
            continue
        out += _ESCAPES.get(nxt, nxt).encode()
        i += 2
    return out.decode("utf-8", "replace")


def _strip_prefix(name: str, prefix: str) -> str:
    name = unquote(name)
    return name[len(prefix) :] if name.startswith(prefix) else name


def _header_paths(rest: str) -> tuple[str, str]:
    """The two paths of `diff --git a/X b/Y`: read from the middle when both are plain
    and equal (a path may hold " b/"), else split on the quoting."""
    if rest.startswith('"'):
        end = rest.index('"', 1)
        while rest[end - 1] == "\\":
            end = rest.index('"', end + 1)
        return _strip_prefix(rest[: end + 1], "a/"), _strip_prefix(rest[end + 2 :], "b/")
    half = (len(rest) - 1) // 2
    if rest[half] == " " and rest[:half].removeprefix("a/") == rest[half + 1 :].removeprefix("b/"):
        return rest[2:half], rest[half + 3 :]
    old, _, new = rest.partition(" b/")
    return _strip_prefix(old, "a/"), unquote(new) if new.startswith('"') else new


def parse_diff(text: str, max_file_lines: int = 3000) -> list[FileDiff]:
    """Every file of `git diff` output (`--src-prefix=a/ --dst-prefix=b/`), in order."""
    files: list[FileDiff] = []
    current: FileDiff | None = None
    hunk: Hunk | None = None
    old_no = new_no = 0
    for raw in text.split("\n"):
        if raw.startswith("diff --git "):
            old, new = _header_paths(raw[len("diff --git ") :])
            current, hunk = FileDiff(path=new, old_path=old), None
            files.append(current)
            continue
        if current is None:
            continue
        if hunk is None:  # the extended header, before the first hunk
            if raw.startswith("new file mode"):
                current.status = "added"
            elif raw.startswith("deleted file mode"):
                current.status = "deleted"
                current.path = current.old_path
            elif raw.startswith("rename from "):
                current.status, current.old_path = "renamed", unquote(raw[12:])
            elif raw.startswith("rename to "):
                current.path = unquote(raw[10:])
            elif raw.startswith("Binary files ") or raw == "GIT binary patch":
                current.binary = True
            elif raw.startswith("--- ") or raw.startswith("+++ "):
                continue
        match = _HUNK.match(raw) if raw.startswith("@@ ") else None
        if match:
            old_no, new_no = int(match[1]), int(match[3])
            hunk = Hunk(old_no, new_no, match[5])
            if current.size < max_file_lines and not current.too_large:
                current.hunks.append(hunk)
            continue
        if hunk is None or not raw or raw[0] not in "+- ":
            continue  # "\ No newline at end of file", or the trailing newline
        kind = {"+": "add", "-": "del", " ": "ctx"}[raw[0]]
        line = Line(
            kind, None if kind == "add" else old_no, None if kind == "del" else new_no, raw[1:]
        )
        old_no += kind != "add"
        new_no += kind != "del"
        current.additions += kind == "add"
        current.deletions += kind == "del"
        if current.too_large:
            continue
        if current.size >= max_file_lines:
            current.too_large, current.hunks = True, []
            continue
        hunk.lines.append(line)
    return files


def changed_old_lines(files: Iterable[FileDiff], path: str) -> set[int] | None:
    """The old-side line numbers of `path` that the diff removed or rewrote; None when the
    diff deleted or renamed the file away (every line of it changed)."""
    for diff in files:
        if diff.old_path != path and diff.path != path:
            continue
        if diff.status == "deleted" or (diff.status == "renamed" and diff.old_path == path):
            return None
        if diff.too_large or diff.binary:
            return None
        lines = (line for hunk in diff.hunks for line in hunk.lines)
        return {line.old for line in lines if line.kind == "del" and line.old}
    return set()
