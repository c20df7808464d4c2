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

    assert config["global"]["max_concurrent"] == 8
    assert config["global"]["default_adapter"] == "command"  # argv set, no default named
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


# -- the typed schema (issue 11 item 13) ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[global]\nmax_concurrent = "four"\n',
            "[global] max_concurrent = 'four': expected a positive integer",
        ),
        ("[global]\ndefault_adapter = 42\n", "[global] default_adapter = 42: expected an adapter"),
        (
            '[adapters.command]\nargv = "python3 agent.py"\n',
            "[adapters.command] argv = 'python3 agent.py': expected a list of strings",
        ),
        ("[limits]\nmax_concurent = 2\n", "[limits] max_concurent = 2: expected one of the keys"),
        ("[limits]\nidle_kill_seconds = 0\n", "expected a positive number of seconds"),
    ],
)
def test_a_config_value_of_the_wrong_type_is_one_line_naming_file_key_value(
    tmp_path: Path, text: str, message: str
) -> None:
    """Seen red: `max_concurrent = "four"` passed loading (and later gave a 64-line
    traceback), `default_adapter = "nosuch"` passed, and an argv string became
    "command 'p' is not on PATH"."""
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    assert str(raised.value).startswith(f"{tmp_path / 'config.toml'}: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_adapter_a_plugin_adds_and_each_adapters_own_keys_pass_the_schema(
    tmp_path: Path,
) -> None:
    """Adapters are plugins with their own settings; the schema types only the keys every
    adapter shares."""
    (tmp_path / "config.toml").write_text(
        '[repo]\ndefault_adapter = "parrot"\n[adapters.parrot]\nvoice = "soft"\n'
        '[adapters.codex]\nsandbox_mode = "workspace-write"\nenv_pass = ["MY_KEY"]\n'
    )
    assert load_config(tmp_path)["adapters"]["parrot"] == {"voice": "soft"}
    (tmp_path / "config.toml").write_text('[adapters.codex]\nenv_pass = "MY_KEY"\n')
    with pytest.raises(ConfigError, match="env_pass = 'MY_KEY': expected a list of strings"):
        load_config(tmp_path)


def test_doctor_lists_every_config_problem_and_every_broken_epic(tmp_path: Path) -> None:
    """Seen red: doctor said `✓ config` for `max_concurrent = "four"`, and stopped at the
    first broken Epic."""
    from middle.app.doctor import check_config, check_issue_store
    from middle.config import DEFAULTS

    home, repo = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    (repo / ".middle").mkdir(parents=True)
    (home / "config.toml").write_text('[global]\nmax_concurrent = "four"\n')
    (repo / ".middle" / "policy.toml").write_text('[repo]\ndefault_adapter = "nosuch"\n')
    check = check_config(home, repo)
    assert check.verdict == "fail"
    assert "max_concurrent = 'four'" in check.detail and "'nosuch'" in check.detail

    epics = repo / "planning" / "epics"
    epics.mkdir(parents=True)
    for name in ("one", "two"):
        (epics / f"{name}.md").write_text("<!-- middle:epic v1 -->\n\nno title here\n")
    (found,) = check_issue_store(repo, DEFAULTS)
    assert found.verdict == "fail" and "one.md" in found.detail and "two.md" in found.detail


def test_setting_only_the_command_adapters_argv_makes_it_the_default(tmp_path: Path) -> None:
    """Issue 11 item 14. Seen red: `[adapters.command] argv` alone still dispatched to
    claude; naming a default adapter anywhere still wins."""
    (tmp_path / "config.toml").write_text('[adapters.command]\nargv = ["python3", "a.py"]\n')
    assert load_config(tmp_path)["global"]["default_adapter"] == "command"
    (tmp_path / "config.toml").write_text(
        '[global]\ndefault_adapter = "claude"\n[adapters.command]\nargv = ["python3", "a.py"]\n'
    )
    assert load_config(tmp_path)["global"]["default_adapter"] == "claude"
