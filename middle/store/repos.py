"""`repo_config`: per-repository settings middle keeps in the database (not in the repo),
such as whether dispatch is paused. One JSON document per repo, merged key by key."""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from middle.store.reads import utcnow
from middle.store.records import Row, insert_idempotent


def repo_settings(db: Database, repo: str) -> dict[str, Any]:
    row = db.execute("SELECT config_json FROM repo_config WHERE repo = ?", [repo]).fetchone()
    return dict(json.loads(row[0])) if row else {}


def merge_repo_settings(db: Database, repo: str, patch: dict[str, Any]) -> None:
    """Merge `patch` into the repo's settings (RFC 7396, in one statement per write)."""
    now = utcnow()
    if not insert_idempotent(
        db, "repo_config", {"repo": repo, "config_json": json.dumps(patch), "updated_at": now}
    ):
        db.execute(
            "UPDATE repo_config SET config_json = json_patch(config_json, ?), updated_at = ? "
            "WHERE repo = ?",
            [json.dumps(patch), now, repo],
        )


def list_repo_settings(db: Database) -> list[Row]:
    return list(db.table("repo_config").rows_where(order_by="repo"))


def register_repo(db: Database, repo: str) -> None:
    """Record `repo` (an absolute repo root) as one middle serves; idempotent."""
    insert_idempotent(
        db, "repo_config", {"repo": repo, "config_json": "{}", "updated_at": utcnow()}
    )


def registered_repos(db: Database) -> list[str]:
    """Every repo middle serves: those with settings here (registered by `serve --repo`,
    or paused and unpaused)."""
    return [str(row["repo"]) for row in list_repo_settings(db)]
