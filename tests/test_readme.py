"""The README's quick start is what CI runs, so it cannot rot."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT, mypy_strict


def quick_start_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_the_quick_start_is_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    install_and_run, install_and_test = quick_start_commands()
    assert "pytest -n auto" in install_and_test
    assert install_and_test in (REPO_ROOT / ".ci" / "run").read_text()
    assert "middle demo" in install_and_run


# -- every code block in the README runs (issue 11 item 12) ----------------------------

import configparser  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from middle.verify.gates import load_gates  # noqa: E402


def code_blocks(language: str) -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    return [
        body for lang, body in re.findall(r"```(\w*)\n(.*?)\n```", readme, re.S) if lang == language
    ]


def test_every_block_is_checked_by_a_test_below() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    languages = set(re.findall(r"```(\w+)\n", readme))
    assert languages <= {"sh", "python", "toml", "ini", "yaml"}, languages


def tasks_blocks() -> list[str]:
    return [block for block in code_blocks("python") if "from invoke import" in block]


@pytest.mark.parametrize("index", [0, 1])
def test_the_tasks_py_snippets_load_under_invoke(index: int, tmp_path: Path) -> None:
    """Seen red: the first snippet raised `ValueError: Non-root collections must have a
    name!` and the second passed `...` to `Collection`."""
    (tmp_path / "tasks.py").write_text(tasks_blocks()[index])
    listed = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"], cwd=tmp_path, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    expected = ["middle.status", "middle.doctor"] if index == 0 else ["status", "dev.lint"]
    for name in expected:
        assert f"  {name} " in listed.stdout or f"  {name}\n" in listed.stdout, listed.stdout


def test_the_plugin_and_its_test_run(tmp_path: Path) -> None:
    plugin, plugin_test = (b for b in code_blocks("python") if "my_plugin" in b)
    (tmp_path / "my_plugin.py").write_text(plugin)
    (tmp_path / "test_my_plugin.py").write_text(plugin_test)
    from middle.app.plugins import load_plugins

    repo = tmp_path / "repo"
    (repo / ".middle" / "plugins").mkdir(parents=True)
    (repo / ".middle" / "plugins" / "my_plugin.py").write_text(plugin)
    order = load_plugins(repo, autoload=False).registry.workflow("implementation").step_names()
    assert order[order.index("launch-and-drive") + 1] == "write-summary"
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_plugin.py"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_plugin_type_checks_strictly(tmp_path: Path) -> None:
    (plugin, _) = (b for b in code_blocks("python") if "my_plugin" in b)
    (tmp_path / "my_plugin.py").write_text(plugin)
    checked = mypy_strict(tmp_path / "my_plugin.py", tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_toml_and_ini_blocks_parse_and_the_gate_loads(tmp_path: Path) -> None:
    for block in code_blocks("toml"):
        tomllib.loads(block)
    (gate,) = (b for b in code_blocks("toml") if "[[gate]]" in b)
    (tmp_path / ".middle").mkdir()
    (tmp_path / ".middle" / "verify.toml").write_text(gate.replace("# phases", "phases"))
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-q", "-m", "gates"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    (loaded,) = load_gates(tmp_path, "HEAD")  # the gates are read from a commit
    assert (loaded.name, loaded.category, loaded.phases) == ("tests", "unit", ("2", "retry-queue"))
    for block in code_blocks("ini"):
        configparser.ConfigParser().read_string(block)


def test_the_yaml_blocks_parse_and_run_only_middle_commands() -> None:
    """The GitLab CI example: valid YAML whose scripts call middle's own commands."""
    from ruamel.yaml import YAML

    from middle.cli.tasks import ns

    for block in code_blocks("yaml"):
        document = YAML(typ="safe").load(block)
        scripts = [
            line
            for job in document.values()
            if isinstance(job, dict)
            for line in job.get("script", [])
        ]
        called = {line.split()[1] for line in scripts if line.startswith("middle ")}
        assert called and called <= set(ns.task_names), called


def test_every_middle_command_in_the_sh_blocks_exists() -> None:
    from middle.cli.tasks import ns

    for block in code_blocks("sh"):
        for line in block.splitlines():
            words = line.split("#")[0].split()
            if "middle" in words and words.index("middle") + 1 < len(words):
                command = words[words.index("middle") + 1]
                assert command in ns.task_names or command in ns.collections, line
