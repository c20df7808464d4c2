"""A private, offline environment for the real Gemini CLI.

`GEMINI_API_KEY` and `GOOGLE_GEMINI_BASE_URL` point it at the scripted model server's Gemini
API dialect (tests/fakes/model_gemini.py). The user has chosen API-key auth before, as one
who set Gemini up has (`security.auth.selectedType` in `~/.gemini/settings.json`; without it
Gemini asks how to authenticate). What middle configures itself (the worktree's
`GEMINI_CLI_HOME`, its hooks, trust and approval mode) is left out, so the tests prove
middle does it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.real_agents.harness import DUMMY_KEY, base_env


def gemini_env(tmp_path: Path, server_url: str, bin_dir: Path) -> dict[str, str]:
    """Gemini as a user who chose API-key auth, in a fresh HOME."""
    home = tmp_path / "gemini-user-home"
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    settings = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings, indent=2))
    env = base_env(home, bin_dir)
    env.update(GEMINI_API_KEY=DUMMY_KEY, GOOGLE_GEMINI_BASE_URL=server_url)
    return env
