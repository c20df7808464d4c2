"""Private, offline environments for the real Claude Code and Codex CLIs.

Each builder recreates only what a user has set up before using middle (logged in, finished
onboarding, trusted the repo) in a fresh HOME / CODEX_HOME under the test's tmp_path, and
points the CLI at the scripted model server on 127.0.0.1. Anything middle itself must
configure for a run (hooks, permission mode, flags) is deliberately left out, so the e2e
tests prove middle does it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALLER = REPO_ROOT / ".ci" / "install-agent-clis"
DUMMY_KEY = "sk-test-offline-0000000000000000000000"
CODEX_PROVIDER = "scripted"
CODEX_MODEL = "gpt-5.1-codex"
BASE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR")


def agent_bin_dir() -> Path | None:
    """The folder holding `claude` and `codex` as installed by `.ci/install-agent-clis`
    (in `$MIDDLE_AGENT_CLIS` or the default cache), or None when they are not there.
    Never installs: installing is CI's job, done once per machine."""
    prefix = Path(
        os.environ.get("MIDDLE_AGENT_CLIS") or Path.home() / ".cache" / "middle" / "agent-clis"
    )
    folder = prefix / "node_modules" / ".bin"
    if all(os.access(folder / name, os.X_OK) for name in ("claude", "codex")):
        return folder
    return None


def pinned_versions() -> dict[str, str]:
    """The CLI versions CI installs, read from the one file that pins them."""
    pins = {}
    for line in INSTALLER.read_text().splitlines():
        name, equals, value = line.partition("=")
        if equals and name.endswith("_VERSION") and name.isupper():
            pins[name] = value
    return pins


def base_env(home: Path, bin_dir: Path) -> dict[str, str]:
    """A minimal environment: nothing from the caller's shell beyond PATH and locale, so a
    developer's own keys and config never reach the CLI under test."""
    env = {key: os.environ[key] for key in BASE_ENV_KEYS if key in os.environ}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["HOME"] = str(home)
    env.setdefault("LANG", "C.UTF-8")
    env["TERM"] = "xterm-256color"
    return env


def claude_env(
    tmp_path: Path, server_url: str, trusted_repo: Path, bin_dir: Path | None = None
) -> dict[str, str]:
    """Claude Code as a logged-in user who finished onboarding and trusted `trusted_repo`
    (a git worktree of it needs no trust of its own)."""
    home = tmp_path / "claude-home"
    home.mkdir(parents=True, exist_ok=True)
    state = {
        "hasCompletedOnboarding": True,
        "projects": {str(trusted_repo.resolve()): {"hasTrustDialogAccepted": True}},
    }
    (home / ".claude.json").write_text(json.dumps(state, indent=2))
    env = base_env(home, bin_dir or _required_bin_dir())
    env.update(
        ANTHROPIC_BASE_URL=server_url,
        ANTHROPIC_AUTH_TOKEN=DUMMY_KEY,  # unlike ANTHROPIC_API_KEY, no key-approval dialog
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        IS_SANDBOX="1",  # we run as root; --dangerously-skip-permissions refuses root without it
    )
    return env


def codex_env(
    tmp_path: Path, server_url: str, trusted_repo: Path, bin_dir: Path | None = None
) -> dict[str, str]:
    """Codex with a custom provider at the server (no login screen) that trusts
    `trusted_repo`."""
    home = tmp_path / "codex-user-home"
    codex_home = tmp_path / "codex-home"
    home.mkdir(parents=True, exist_ok=True)
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        f'model = "{CODEX_MODEL}"\n'
        f'model_provider = "{CODEX_PROVIDER}"\n'
        "\n"
        f"[model_providers.{CODEX_PROVIDER}]\n"
        'name = "Scripted model"\n'
        f"base_url = {json.dumps(server_url + '/v1')}\n"
        'env_key = "SCRIPTED_MODEL_API_KEY"\n'
        'wire_api = "responses"\n'
        "\n"
        f"[projects.{json.dumps(str(trusted_repo.resolve()))}]\n"
        'trust_level = "trusted"\n'
    )
    env = base_env(home, bin_dir or _required_bin_dir())
    env.update(CODEX_HOME=str(codex_home), SCRIPTED_MODEL_API_KEY=DUMMY_KEY)
    return env


def _required_bin_dir() -> Path:
    folder = agent_bin_dir()
    if folder is None:
        raise FileNotFoundError("agent CLIs not installed: run .ci/install-agent-clis")
    return folder
