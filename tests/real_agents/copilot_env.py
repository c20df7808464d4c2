"""A private, offline environment for the real GitHub Copilot CLI.

Copilot needs no login with a custom ("BYOK") provider: `COPILOT_OFFLINE=true` and
`COPILOT_PROVIDER_*` point it at the scripted model server's OpenAI Responses API. What
middle configures itself (the worktree's `COPILOT_HOME`, its hooks and trusted folder, the
flags) is left out, so the tests prove middle does it.

A new HOME unpacks the CLI's ~235 MB package into `~/.cache/copilot` at first launch;
`COPILOT_CACHE_HOME` (which Copilot 1.0.102's loader honours, before `XDG_CACHE_HOME`)
points every test at one cache beside the installed CLIs instead, so each scenario keeps a
fresh HOME and the unpack happens once per machine. Copilot unpacks into a temporary
folder and renames it into place, so parallel workers can share the cache.
"""

from __future__ import annotations

from pathlib import Path

from tests.real_agents.harness import DUMMY_KEY, base_env

COPILOT_MODEL = "gpt-5.1"


def copilot_cache(bin_dir: Path) -> Path:
    """The package cache every test shares: `<agent-clis prefix>/copilot-cache`."""
    return bin_dir.parent.parent / "copilot-cache"


def copilot_env(tmp_path: Path, server_url: str, bin_dir: Path) -> dict[str, str]:
    """Copilot as a user with a custom provider at the server, in a fresh HOME."""
    home = tmp_path / "copilot-user-home"
    home.mkdir(parents=True, exist_ok=True)
    env = base_env(home, bin_dir)
    env.update(
        COPILOT_OFFLINE="true",
        COPILOT_PROVIDER_BASE_URL=f"{server_url}/v1",
        COPILOT_PROVIDER_TYPE="openai",
        COPILOT_PROVIDER_WIRE_API="responses",
        COPILOT_PROVIDER_API_KEY=DUMMY_KEY,
        COPILOT_MODEL=COPILOT_MODEL,
        COPILOT_CACHE_HOME=str(copilot_cache(bin_dir)),
    )
    return env
