"""The hook channel: how an agent CLI tells middle what it is doing.

The agent's hook config runs `.middle/hooks/hook.sh EVENT` with a JSON payload on stdin
(or, for CLIs that pass it so, as the second argument). The script only spools the event
into `.middle/spool/` as one file, so it never blocks or fails the agent, and a hook sent
while no middle process is listening waits there. `drain_hooks` turns spooled files into
`events` rows, checking the session token, and deletes them; `hook_deliveries` makes that
exactly once even if the drainer dies between recording a file and deleting it. A database
another process keeps locked is waited out by the store's connection (`PatientConnection`),
for as long as it takes while a runner drives the run: a busy database never ends a turn.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle.errors import UNREADABLE_JSON
from middle.store import insert_idempotent, record_event, update_workflow, utcnow, write_transaction
from middle.system.files import make_private
from middle.system.worktree import hook_script, spool_dir

HOOK_SCRIPT = """#!/bin/sh
# middle's hook relay: `hook.sh EVENT` with the JSON payload on stdin (or as "$2").
# It only writes the event to a spool file for middle to pick up: it never blocks the
# agent, and nothing it receives is ever interpreted by a shell.
# Shell builtins where they do (a hook is on the agent's hot path): no dirname, and
# mkdir only if the spool is gone. Each spool file holds the session token: private.
umask 077
case "$0" in */*) here="${0%/*}" ;; *) here=. ;; esac
spool="$here/../spool"
[ -d "$spool" ] || mkdir -p "$spool" 2>/dev/null
name="$(date +%s%N 2>/dev/null)-$$"
{
  printf '%s\\n%s\\n' "${1:-unknown}" "${MIDDLE_SESSION_TOKEN:-}"
  if [ -n "${2:-}" ]; then printf '%s' "$2"; elif [ ! -t 0 ]; then cat; fi
} > "$spool/.$name.tmp" 2>/dev/null && mv -f "$spool/.$name.tmp" "$spool/$name.hook" 2>/dev/null \\
  && exit 0
# A hook that cannot be spooled is lost: say so, so the agent CLI shows it (a non-zero exit
# other than 2 blocks nothing in Claude Code or Codex).
echo "middle: hook.sh cannot write to $spool; the ${1:-unknown} hook is lost" >&2
exit 1
"""


@dataclass(frozen=True)
class Hook:
    event: str
    payload: dict[str, Any]
    sent_at: float | None = None  # epoch seconds, from the spool file's name


def _sent_at(name: str) -> float | None:
    """`hook.sh` names each spool file `<epoch ns>-<pid>.hook`."""
    stamp = name.partition("-")[0]
    return int(stamp) / 1e9 if stamp.isdigit() else None


def install_hook_script(worktree: Path) -> Path:
    """Write `.middle/hooks/hook.sh` (idempotent) and return its path."""
    script = hook_script(worktree)
    script.parent.mkdir(parents=True, exist_ok=True)
    if not script.exists() or script.read_text() != HOOK_SCRIPT:
        script.write_text(HOOK_SCRIPT)
    script.chmod(0o755)
    spool_dir(worktree).mkdir(parents=True, exist_ok=True)
    make_private(spool_dir(worktree))
    return script


def drain_hooks(db: Database, workflow_id: str, worktree: Path, token: str) -> list[Hook]:
    """Record every spooled hook of the worktree as an event, oldest first, and return the
    accepted ones. A wrong token is dropped and logged as `hook.rejected`."""
    accepted = []
    for path in sorted(spool_dir(worktree).glob("*.hook")):
        try:
            raw = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue  # another drainer took it
        event, _, rest = raw.partition("\n")
        sent_token, _, body = rest.partition("\n")
        event = event.strip()[:64] or "unknown"
        genuine = hmac.compare_digest(sent_token.strip().encode(), token.encode())
        payload = _payload(body) if genuine else {}
        with write_transaction(db):
            first_time = insert_idempotent(
                db,
                "hook_deliveries",
                {"workflow_id": workflow_id, "delivery": path.name, "recorded_at": utcnow()},
            )
            if first_time and genuine:
                record_event(db, workflow_id, f"hook.{event}", payload)
                if event == "SessionStart":
                    _remember_session(db, workflow_id, payload)
            elif first_time:
                reason = {"event": event, "reason": "wrong session token"}
                record_event(db, workflow_id, "hook.rejected", reason)
        if first_time and genuine:
            accepted.append(Hook(event, payload, _sent_at(path.name)))
        path.unlink(missing_ok=True)  # a crash before this line leaves a file already recorded
    return accepted


def _payload(body: str) -> dict[str, Any]:
    try:
        value = json.loads(body) if body.strip() else {}
    except UNREADABLE_JSON:
        return {"raw": body[:4000], "error": "payload is not JSON"}
    return value if isinstance(value, dict) else {"value": value}


def _remember_session(db: Database, workflow_id: str, payload: dict[str, Any]) -> None:
    fields = {
        column: str(payload[key])
        for key, column in (("session_id", "session_id"), ("transcript_path", "transcript_path"))
        if isinstance(payload.get(key), str | int)
    }
    if fields:
        update_workflow(db, workflow_id, **fields)
