from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert config["limits"] == {
        "max_concurrent": 2,
        "complexity_ceiling": 3,
        "max_children_per_epic": 3,
    }
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


# -- bad input is one line (issue 20 items 12, 15, 16) -------------------------------------


@pytest.mark.parametrize("name", ["config.toml", "policy.toml"])
def test_a_config_file_that_is_not_utf8_names_the_file_and_the_byte_offset(
    tmp_path: Path, name: str
) -> None:
    """Issue 20 item 12. Seen red: a `UnicodeDecodeError` traceback from `read_toml` (it
    caught only `OSError`)."""
    home, repo = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    (repo / ".middle").mkdir(parents=True)
    path = home / name if name == "config.toml" else repo / ".middle" / name
    path.write_bytes(b"[limits]\nmax_concurrent = 2 # caf\xe9\n")
    with pytest.raises(ConfigError) as raised:
        load_config(home, repo)
    assert str(raised.value) == (
        f"{path} is not UTF-8 text: byte 0xe9 at offset 33 cannot be decoded; "
        "save the file as UTF-8"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limit]\nmax_concurrent = 2\n", "[limit] is not a table middle knows"),
        ("[limit]\nmax_concurrent = 2\n", "(did you mean [limits]?)"),
        ('[epic-store]\nmode = "file"\n', "(did you mean [epic_store]?)"),
        ("[telemetry]\non = true\n", "expected one of [global], [repo], [epic_store]"),
        ("verbose = true\n", "verbose = True: expected a table, one of [global]"),
        ('[recommender]\nintervall = "5m"\n', "[recommender] intervall = '5m': expected one"),
        ('[recommender]\nintervall = "5m"\n', "(did you mean interval?)"),
        ("[limits]\nmax_concurent = 2\n", "(did you mean max_concurrent?)"),
    ],
)
def test_an_unknown_table_or_a_misspelt_key_in_any_table_is_refused_with_a_suggestion(
    tmp_path: Path, text: str, message: str
) -> None:
    """Issue 20 item 15. Seen red: `[limit]`, `[epic-store]` and `[recommender] intervall`
    loaded silently (the schema left unknown tables alone and had no [recommender])."""
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('adapters = "x"\n', "adapters = 'x': expected a table"),
        ("recommender = 3\n", "recommender = 3: expected a [recommender] table"),
        ("global = 3\n", "global = 3: expected a [global] table"),
        ('[adapters]\ncommand = "x"\n', "adapters.command = 'x': expected a [adapters.command]"),
        ('[recommender]\nmax_attempts = "x"\n', "max_attempts = 'x': expected a positive integer"),
        ("[recommender]\ninterval = 5\n", "interval = 5: expected a duration like"),
        ('[recommender]\ninterval = "5"\n', "interval = '5': expected a duration like"),
        ('[recommender]\ninterval = "0m"\n', "interval = '0m': expected a duration like"),
        ('[recommender]\nauto_dispatch = "yes"\n', "auto_dispatch = 'yes': expected true or"),
        ("[recommender]\nadapter = 3\n", "[recommender] adapter = 3: expected an adapter"),
        ('[epic_store]\nepics_dir = "/etc"\n', "epics_dir = '/etc': expected a folder inside"),
        ('[epic_store]\nepics_dir = "../x"\n', "epics_dir = '../x': expected a folder inside"),
    ],
)
def test_a_value_of_the_wrong_shape_anywhere_is_one_line_and_doctor_lists_it(
    tmp_path: Path, text: str, message: str
) -> None:
    """Issue 20 items 15 and 16. Seen red: `adapters = "x"` and `global = 3` gave an
    AttributeError traceback while merging, `recommender = 3`, `max_attempts = "x"`,
    `interval = 5` and `epics_dir = "/etc"` loaded (to fail later: a traceback, or three
    agent turns of `recommend` on an interval the state issue cannot carry)."""
    from middle.app.doctor import check_config

    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    assert str(raised.value).startswith(f"{tmp_path / 'config.toml'}: ")
    assert message in str(raised.value)
    check = check_config(tmp_path)
    assert check.verdict == "fail" and message in check.detail


@pytest.mark.parametrize("interval", ["off", "15m", "1h30m", "2d", "45s"])
def test_the_recommender_interval_takes_a_duration_or_off(tmp_path: Path, interval: str) -> None:
    (tmp_path / "config.toml").write_text(f'[recommender]\ninterval = "{interval}"\n')
    assert load_config(tmp_path)["recommender"]["interval"] == interval


def test_an_issue_stores_own_table_is_the_one_its_mode_names(tmp_path: Path) -> None:
    """A plugin's issue store reads a table named after its mode (`[notes]` for
    `mode = "notes"`, as in tests/e2e/test_issue_store_plugin.py); any other is refused."""
    home, repo = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    (repo / ".middle").mkdir(parents=True)
    (home / "config.toml").write_text('[notes]\nfolder = "notes"\n')
    (repo / ".middle" / "policy.toml").write_text('[epic_store]\nmode = "notes"\n')
    assert load_config(home, repo)["notes"] == {"folder": "notes"}
    with pytest.raises(ConfigError, match=r"\[notes\] is not a table middle knows"):
        load_config(home)  # without the repo's policy the mode is "file"


def test_an_unterminated_agent_command_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20 item 16. Seen red: `ValueError: No closing quotation` from shlex."""
    monkeypatch.setenv("MIDDLE_AGENT_COMMAND", "python3 'my agent.py")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    assert str(raised.value) == (
        'MIDDLE_AGENT_COMMAND = "python3 \'my agent.py" cannot be split into words '
        "(No closing quotation); quote it as a shell would"
    )


@pytest.mark.parametrize("kind", ["file", "under a file"])
def test_a_middle_home_that_cannot_be_a_directory_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Issue 20 item 16. Seen red: `FileExistsError` (and `NotADirectoryError`) tracebacks
    from `mkdir`."""
    (tmp_path / "f").write_text("")
    home = tmp_path / "f" if kind == "file" else tmp_path / "f" / "home"
    monkeypatch.setenv("MIDDLE_HOME", str(home))
    with pytest.raises(ConfigError) as raised:
        middle_home()
    assert str(raised.value).startswith(f"MIDDLE_HOME = {str(home)!r} cannot be middle's home (")
    assert str(raised.value).endswith("); point MIDDLE_HOME at a directory")


KEYS_TO_FUZZ = sorted(
    {"global", "adapters", "repo", "epic_store", "limits", "recommender", "command", "claude"}
    | {"mode", "epics_dir", "interval", "max_attempts", "argv", "max_concurrent", "limit"}
    | {"default_adapter", "auto_dispatch", "adapter", "env_pass", "epic-store", "notes"}
)


def toml(value: object) -> str:
    """`value` as a TOML value (tables inline): enough TOML for the fuzzer's shapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f'"{key}" = {toml(item)}' for key, item in value.items()) + "}"


TOML_VALUES = st.recursive(
    st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from(["", "off", "15m", "/etc", "../x", "claude", "planning/epics", "x"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS_TO_FUZZ), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    files=st.lists(
        st.dictionaries(st.sampled_from(KEYS_TO_FUZZ), TOML_VALUES, max_size=4),
        min_size=2,
        max_size=2,
    ),
    garbage=st.binary(max_size=40),
)
def test_no_config_file_makes_loading_or_doctor_raise_anything_but_config_error(
    tmp_path_factory: pytest.TempPathFactory, files: list[dict[str, object]], garbage: bytes
) -> None:
    """Any shape of config.toml and policy.toml (and any bytes after them) loads, or is
    refused with one `ConfigError` line; doctor's config check reports it and never raises.
    Seen red: AttributeError and TypeError tracebacks (`adapters = "x"`, `global = 3`,
    `[adapters] command = 3`), and a UnicodeDecodeError for the bytes."""
    from middle.app.doctor import check_config

    root = tmp_path_factory.mktemp("fuzz")
    home, repo = root / "home", root / "repo"
    home.mkdir()
    (repo / ".middle").mkdir(parents=True)
    (home / "config.toml").write_text("".join(f'"{k}" = {toml(v)}\n' for k, v in files[0].items()))
    policy = "".join(f'"{k}" = {toml(v)}\n' for k, v in files[1].items())
    (repo / ".middle" / "policy.toml").write_bytes(policy.encode() + b"# " + garbage)
    try:
        config = load_config(home, repo)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert isinstance(config["global"], dict) and isinstance(config["recommender"], dict)
    check = check_config(home, repo)
    assert check.verdict in ("ok", "fail")
