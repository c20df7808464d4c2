"""The Repos page's pause / unpause form, through the app layer's use cases."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from middle.app.control import pause_repo, unpause_repo

from .actions import form_field


def pause_from_form(db: Database, form: dict[str, Any]) -> str:
    """Pause or unpause the form's repository; never "the current directory", which is
    only where the dashboard happened to start (`FormError` when it names none)."""
    repo = form_field(form, "repo", "repository")
    if form.get("pause") == "pause":
        return f"dispatch paused for {pause_repo(repo, db)}"
    return f"dispatch resumed for {unpause_repo(repo, db)}"
