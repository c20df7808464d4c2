"""What middle keeps of GitHub between `gh` calls, in a folder of `$MIDDLE_HOME`
(`cache/github/`): each REST page it read, with its ETag, so that the next read of that
page asks with `If-None-Match` and a `304` (free of quota) stands for the kept body; the
small documents a poll pass keeps between passes (`document`); and a count of the calls,
by minute, that cost quota and that did not (`count`, `calls_last_hour`).

A cache, not run state: deleting the folder costs one full read of each page, nothing
else. So it is files under the home, not the store: the pages hold issue bodies (a
1,000-issue listing is megabytes) that have no place in the database every run commits
to, nor in a carried run's bundle; and a write is one file replaced at once, never a
transaction the engine waits on. Each file is private (0600): issues of a private
repository are in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from middle.system.files import write_private

# What a gh call cost: `rest` and `graphql` spend the login's quota; `free` did not (a
# 304 to a conditional request, `GET /rate_limit`).
COSTS = ("rest", "graphql", "free")
_KEPT_MINUTES = 120


class GhCache:
    def __init__(self, home: Path) -> None:
        self.folder = home / "cache" / "github"

    def _path(self, kind: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.folder / kind / f"{digest}.json"

    def _read(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None  # never read, or torn by a crash of an older writer: read again

    def _write(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, json.dumps(data).encode())

    # -- pages ------------------------------------------------------------------------

    def page(self, url: str) -> dict[str, Any] | None:
        """The page of `url` as last read: `etag`, `body`, `next` (the next page's path
        or None)."""
        found = self._read(self._path("pages", url))
        return found if isinstance(found, dict) and found.get("url") == url else None

    def save_page(self, url: str, etag: str, body: Any, next_path: str | None) -> None:
        self._write(
            self._path("pages", url), {"url": url, "etag": etag, "body": body, "next": next_path}
        )

    def prune(self, days: int, now: datetime | None = None) -> int:
        """Forget the pages not read for `days` (a listing whose cursor moved on, a
        finished run's comments); how many went."""
        horizon = (now or datetime.now(UTC)).timestamp() - days * 86400
        gone = 0
        for path in (self.folder / "pages").glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < horizon:
                    path.unlink()
                    gone += 1
        return gone

    # -- documents a pass keeps ---------------------------------------------------------

    def document(self, name: str) -> dict[str, Any]:
        found = self._read(self._path("documents", name))
        return found if isinstance(found, dict) else {}

    def save_document(self, name: str, data: dict[str, Any]) -> None:
        self._write(self._path("documents", name), data)

    # -- the calls' cost ----------------------------------------------------------------

    @contextlib.contextmanager
    def _calls(self) -> Iterator[dict[str, dict[str, int]]]:
        """The count by minute, locked for the length of the block (many processes
        count at once: serve, a manual poll, the dashboard)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (self.folder / "calls.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.folder / "calls.json"
            counts = self._read(path)
            counts = counts if isinstance(counts, dict) else {}
            before = json.dumps(counts, sort_keys=True)
            yield counts
            if json.dumps(counts, sort_keys=True) != before:
                self._write(path, counts)

    def count(self, cost: str, now: datetime | None = None) -> None:
        """One more call of `cost` (one of `COSTS`) in this minute."""
        minute = _minute(now or datetime.now(UTC))
        oldest = _minute((now or datetime.now(UTC)) - timedelta(minutes=_KEPT_MINUTES))
        with self._calls() as counts:
            for gone in [m for m in counts if m < oldest]:
                del counts[gone]
            bucket = counts.setdefault(minute, {})
            bucket[cost] = bucket.get(cost, 0) + 1

    def calls_last_hour(self, now: datetime | None = None) -> dict[str, int]:
        """The calls of the last 60 minutes, by cost."""
        since = _minute((now or datetime.now(UTC)) - timedelta(minutes=59))
        found = dict.fromkeys(COSTS, 0)
        counts = self._read(self.folder / "calls.json")
        for minute, bucket in (counts if isinstance(counts, dict) else {}).items():
            if minute >= since:
                for cost, calls in bucket.items():
                    found[cost] = found.get(cost, 0) + int(calls)
        return found


def calls_line(calls: dict[str, int]) -> str:
    """The last hour's gh calls, for a person: what cost quota and what did not."""
    spent = calls["rest"] + calls["graphql"]
    return (
        f"middle's gh calls in the last hour: {spent} cost quota ({calls['rest']} REST, "
        f"{calls['graphql']} GraphQL), {calls['free']} free (304 Not Modified)"
    )


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
