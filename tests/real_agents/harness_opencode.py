"""A private, offline home for the real OpenCode CLI (`opencode-ai`), as a user sets it up
before using middle: a custom OpenAI-compatible provider at the scripted model server
(its Chat Completions dialect) chosen as the model, no auto-update, no sharing.

What middle itself configures for a run (permissions, say) is left out, so the tests
prove middle does it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.real_agents.harness import DUMMY_KEY, _required_bin_dir, base_env

PROVIDER = "scripted"
MODEL = "scripted-model"
KEY_VARIABLE = "SCRIPTED_MODEL_API_KEY"


def opencode_config(server_url: str) -> dict[str, object]:
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            PROVIDER: {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Scripted model",
                "options": {"baseURL": f"{server_url}/v1", "apiKey": f"{{env:{KEY_VARIABLE}}}"},
                "models": {MODEL: {"name": "Scripted model"}},
            }
        },
        "model": f"{PROVIDER}/{MODEL}",
        "small_model": f"{PROVIDER}/{MODEL}",
        "autoupdate": False,
        "share": "disabled",
    }


def opencode_env(tmp_path: Path, server_url: str, bin_dir: Path | None = None) -> dict[str, str]:
    """OpenCode in a fresh HOME whose config points it at the server."""
    home = tmp_path / "opencode-home"
    config = home / ".config" / "opencode"
    config.mkdir(parents=True, exist_ok=True)
    (config / "opencode.json").write_text(json.dumps(opencode_config(server_url), indent=2))
    env = base_env(home, bin_dir or _required_bin_dir())
    env[KEY_VARIABLE] = DUMMY_KEY
    return env
