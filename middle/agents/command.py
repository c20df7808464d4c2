"""Any interactive agent CLI, from `[adapters.command] argv` or `MIDDLE_AGENT_COMMAND`.

The CLI calls `.middle/hooks/hook.sh EVENT` itself, in Claude Code's hook vocabulary, and
reads a one-line prompt that points at `.middle/prompt.md`. docs/command-adapter.md says
everything such a CLI must do; `python -m middle.agents.standin` is a complete example.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from middle.agents.base import BaseAdapter

_USAGE_LIMIT = re.compile(r"Claude AI usage limit reached\|(\d{9,11})")


class CommandAdapter(BaseAdapter):
    name: ClassVar[str] = "command"
    defaults: ClassVar[dict[str, Any]] = {"argv": []}

    def argv(self) -> list[str]:
        return [str(part) for part in self.settings.get("argv", [])]

    def launch_argv(self, worktree: Path, resume_session: str | None = None) -> list[str]:
        """`argv`, plus `resume_argv` (with `{session_id}` filled in) to continue a session:
        for the stand-in, `resume_argv = ["--resume", "{session_id}"]`."""
        if not resume_session:
            return self.argv()
        extra = [str(part) for part in self.settings.get("resume_argv", [])]
        return [*self.argv(), *(part.replace("{session_id}", resume_session) for part in extra)]

    @property
    def confirms_prompts(self) -> bool:  # type: ignore[override]
        """Only if configured: a CLI that sends `UserPromptSubmit` for every prompt."""
        return bool(self.settings.get("confirms_prompts", False))

    def usage_limit(self, text: str) -> str | None:
        found = _USAGE_LIMIT.findall(text)
        return found[-1] if found else None
