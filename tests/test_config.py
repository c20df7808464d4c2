from __future__ import annotations

from pathlib import Path

import pytest

from middle.config import load_config, middle_home
from middle.errors import ConfigError


def test_sources_merge_lowest_to_highest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    (repo / ".middle").mkdir(parents=True)
    home.mkdir()
    (home / "config.toml").write_text(
        '[global]\nmax_concurrent = 8\n[adapters.command]\nargv = ["python3", "a.py"]\n'
    )
    (repo / ".middle" / "policy.toml").write_text("[limits]\nmax_concurrent = 2\n")
    monkeypatch.setenv("MIDDLE_AGENT_COMMAND", "python3 '/opt/my agent.py' --fast")

    config = load_config(home, repo)

    assert config["global"] == {"default_adapter": "claude", "max_concurrent": 8}
    assert config["limits"] == {"max_concurrent": 2, "complexity_ceiling": 3}
    assert config["adapters"]["command"]["argv"] == ["python3", "/opt/my agent.py", "--fast"]
    assert "claude" not in config["adapters"]  # each adapter owns its defaults


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[global]\nmax_concurrent = = 3\n")
    with pytest.raises(ConfigError, match=r"config.toml is not valid TOML.*line 2"):
        load_config(tmp_path)


def test_home_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIDDLE_HOME", str(tmp_path / "h"))
    assert middle_home().stat().st_mode & 0o777 == 0o700


def test_racing_first_runs_both_create_the_home(tmp_path: Path) -> None:
    """Seen red as `FileExistsError` when three `implement`s started at once on a fresh home
    (an exists-then-mkdir check). This race reproduces it in about one run in three without
    the fix (a start line gives the racers one moment); green with `exist_ok=True`."""
    import subprocess
    import sys
    import time

    home, go = tmp_path / "fresh-home", tmp_path / "go"
    code = (
        "import os, time\nfrom middle.config import middle_home\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.0005)\nmiddle_home()"
    )
    racers = [
        subprocess.Popen([sys.executable, "-c", code], env={"MIDDLE_HOME": str(home)})
        for _ in range(12)
    ]
    time.sleep(1)  # let every racer reach the start line
    go.touch()
    assert [racer.wait(timeout=60) for racer in racers] == [0] * 12
    assert home.is_dir()
