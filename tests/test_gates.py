"""Verification gates (issue 19): the schema, shell semantics, the process-group timeout,
reading the gates from the base branch's commit, and the clean checkout of the head they
judge. Real git, real processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from middle.errors import ConfigError
from middle.verify.checkout import GateCheckout, checkout_path, head_of
from middle.verify.gates import Gate, load_gates, parse_gates, run_gate
from tests.e2e.conftest import git, wait_until


def gate(command: str | list[str], **keys: object) -> Gate:
    (loaded,) = parse_gates({"gate": [{"name": "g", "command": command, **keys}]}, "verify.toml")
    return loaded


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie nobody reaped yet has ended too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "inner.txt").write_text("inner\n")
    (path / "flag").write_text("no\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


# -- shell semantics ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "result"),
    [
        ("echo a && false", "failed"),
        ("true && echo ok", "passed"),
        ("printf 'a\\nb\\n' | grep -q c", "failed"),
        ("printf 'a\\nb\\n' | grep -q b", "passed"),
        ("cd sub && test -f inner.txt", "passed"),
        ('GREETING=hi; test "$GREETING" = hi', "passed"),
        ('test "$MIDDLE_GATE_PROBE" = inherited', "passed"),
        (["echo", "a && false"], "passed"),  # a list is argv: no shell reads the `&&`
        (["sh", "-c", "exit 3"], "failed"),
    ],
)
def test_a_string_command_runs_through_sh_and_a_list_as_argv(
    repo: Path, monkeypatch: pytest.MonkeyPatch, command: str | list[str], result: str
) -> None:
    """Seen red: a string was split into argv and run without a shell, so `echo a && false`
    ran echo (and passed), a pipe was echo's argument, `cd` could not be run at all, and
    `$VAR` was the literal text."""
    monkeypatch.setenv("MIDDLE_GATE_PROBE", "inherited")
    assert run_gate(gate(command), repo, "abc").result == result


def test_a_gate_records_the_head_it_judged_its_category_and_its_output(repo: Path) -> None:
    """Seen red on the old `GateResult` (name, passed, output): no head, category, result
    or duration to record."""
    checked = gate("echo first; echo last-line >&2; exit 1", category="integration")
    result = run_gate(checked, repo, "0123456789abcdef")
    assert (result.gate, result.category, result.result) == ("g", "integration", "failed")
    assert result.head == "0123456789abcdef"
    assert result.last_line == "last-line" and "first" in result.tail
    assert result.duration_seconds >= 0
    assert result.summary() == "g [integration] failed: last-line"


def test_a_program_that_does_not_exist_fails_the_gate_with_why(repo: Path) -> None:
    result = run_gate(gate(["no-such-program-middle"]), repo, "abc")
    assert result.result == "error" and "could not run no-such-program-middle" in result.tail


# -- the process group ------------------------------------------------------------------


def test_a_timeout_kills_the_whole_process_group(repo: Path) -> None:
    """Seen red (the command run without `start_new_session` and killed alone): the
    background `sleep 1000` outlived the gate."""
    command = "sleep 1000 & echo $! > bg.pid; echo $$ > sh.pid; sleep 1000"
    result = run_gate(gate(command, timeout_seconds=0.5), repo, "abc")
    assert result.result == "timed-out" and "timed out after 0.5s" in result.tail
    pids = [int((repo / name).read_text()) for name in ("bg.pid", "sh.pid")]
    wait_until(lambda: all(gone(pid) for pid in pids))


def test_a_gate_is_killed_when_middle_lets_go_of_the_run(repo: Path) -> None:
    """Ctrl-C detaches middle (`RunDetached`, raised by its signal handler) while a gate
    runs: the gate's process group must not outlive it, since the checkout it runs in is
    removed. Seen red: the exception skipped the kill, and both sleeps ran on."""
    import signal

    from middle.errors import RunDetached

    def detach(signum: int, frame: object) -> None:
        raise RunDetached("run-1")

    command = "echo $$ > sh.pid; sleep 1000 & echo $! > bg.pid; wait"
    previous = signal.signal(signal.SIGALRM, detach)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(RunDetached):
            run_gate(gate(command, timeout_seconds=60), repo, "abc")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pids = [int((repo / name).read_text()) for name in ("bg.pid", "sh.pid")]
    wait_until(lambda: all(gone(pid) for pid in pids))


def test_a_gate_that_leaves_a_child_holding_its_output_ends_with_its_shell(repo: Path) -> None:
    """Seen red (output read from a pipe, as `subprocess.run(capture_output=True)` does):
    the background sleep kept the pipe open, so a gate whose shell had exited 0 waited for
    its timeout and failed. Its leftover child is killed too."""
    command = "sleep 1000 & echo $! > bg.pid; echo started"
    result = run_gate(gate(command, timeout_seconds=20), repo, "abc")
    assert result.result == "passed" and result.last_line == "started"
    bg = int((repo / "bg.pid").read_text())
    wait_until(lambda: gone(bg))


def test_a_child_that_left_the_group_cannot_hold_a_timed_out_gate(repo: Path) -> None:
    """A child in a session of its own escapes the group kill, and still has the gate's
    output open: the gate still ends at its timeout (its output is a file, not a pipe).
    Seen red (a pipe, read to its end after the kill to keep the output): the test hung
    until the escaped child was killed by hand."""
    # util-linux setsid execs in place (a background job leads no group), so $! is the
    # escapee's pid, in a session of its own within milliseconds
    command = "setsid sleep 1000 & echo $! > escaped.pid; sleep 1000"
    result = run_gate(gate(command, timeout_seconds=2), repo, "abc")
    escaped = int((repo / "escaped.pid").read_text())
    try:
        assert os.getsid(escaped) == escaped  # it did escape the group kill
        assert result.result == "timed-out"
    finally:
        os.kill(escaped, signal.SIGKILL)


# -- the schema -------------------------------------------------------------------------


def test_phases_take_the_epics_forms_and_category_defaults_to_unit() -> None:
    loaded = gate("true", phases=["#3", 4, "5", "retry-queue"])
    assert loaded.phases == ("3", "4", "5", "retry-queue")
    assert loaded.category == "unit" and loaded.timeout_seconds == 300
    assert gate("true").phases == ()  # no phases: every phase
    assert gate("pytest -q").argv == ("sh", "-c", "pytest -q")


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({"phases": []}, "gate 'g' has `phases` = []; list sub-issues"),
        ({"phases": "3"}, "gate 'g' has `phases` = '3'"),
        ({"phases": ["#0"]}, "gate 'g' has phase '#0'; name a sub-issue"),
        ({"phases": [0]}, "gate 'g' has phase 0;"),
        ({"phases": ["two words"]}, "gate 'g' has phase 'two words';"),
        ({"phases": ["../x"]}, "gate 'g' has phase '../x';"),
        ({"phases": [True]}, "gate 'g' has phase True;"),
        ({"category": "e2e"}, "gate 'g' has `category` = 'e2e'; use one of 'unit', 'integration'"),
        ({"timeout_seconds": 0}, "gate 'g' has `timeout_seconds` = 0; give a positive number"),
        ({"timeout_seconds": "5"}, "`timeout_seconds` = '5'"),
        ({"command": ""}, "gate 'g' has `command` = ''; give a shell command"),
        ({"command": ["ok", 3]}, "gate 'g' has `command` = ['ok', 3]"),
        ({"retries": 2}, "gate 1 has unknown key(s) ['retries']"),
    ],
)
def test_a_bad_gate_is_refused_in_one_line_naming_it(keys: dict[str, object], says: str) -> None:
    """Seen red: phases and category were accepted whatever they held, and a bad timeout
    failed later, in the middle of a run."""
    entry = {"name": "g", "command": "true", **keys}
    with pytest.raises(ConfigError) as refused:
        parse_gates({"gate": [entry]}, ".middle/verify.toml on main")
    message = str(refused.value)
    assert says in message and "\n" not in message
    assert message.startswith(".middle/verify.toml on main: ")


def test_two_gates_with_one_name_are_refused() -> None:
    entries = [{"name": "t", "command": "true"}, {"name": "t", "command": "false"}]
    with pytest.raises(ConfigError, match="two gates are named 't'"):
        parse_gates({"gate": entries}, "verify.toml")


# -- where the gates come from ----------------------------------------------------------


def test_gates_come_from_the_base_branchs_commit_only(repo: Path) -> None:
    """Seen red: the gates were read from the main checkout's working file, so an
    uncommitted edit there changed what the run was judged by."""
    (repo / ".middle").mkdir()
    (repo / ".middle" / "verify.toml").write_text('[[gate]]\nname = "committed"\ncommand = "x"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gates")
    git(repo, "switch", "-q", "-c", "middle/issue-1")
    (repo / ".middle" / "verify.toml").write_text('[[gate]]\nname = "agents"\ncommand = "true"\n')
    git(repo, "commit", "-q", "-am", "the agent's own gates")
    git(repo, "switch", "-q", "main")
    (repo / ".middle" / "verify.toml").write_text('[[gate]]\nname = "edited"\ncommand = "true"\n')

    assert [g.name for g in load_gates(repo, "main")] == ["committed"]


def test_a_base_without_verify_toml_has_no_gates_and_a_bad_file_says_where(repo: Path) -> None:
    assert load_gates(repo, "main") == []
    (repo / ".middle").mkdir()
    (repo / ".middle" / "verify.toml").write_text("[[gate]\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "broken gates")
    with pytest.raises(ConfigError, match=r"^\.middle/verify\.toml on main is not valid TOML"):
        load_gates(repo, "main")


# -- the clean checkout -----------------------------------------------------------------


def agent_worktree(repo: Path, tmp_path: Path) -> Path:
    path = tmp_path / "agent"
    git(repo, "worktree", "add", "-q", "-b", "middle/issue-7", str(path))
    return path


@pytest.mark.parametrize("how", ["untracked", "uncommitted"])
def test_a_file_the_agent_did_not_commit_never_makes_a_gate_pass(
    repo: Path, tmp_path: Path, how: str
) -> None:
    """Seen red (the gates run in the agent's worktree, as before): the untracked
    CHANGELOG.md, or the uncommitted edit of `flag`, passed the gate."""
    worktree = agent_worktree(repo, tmp_path)
    if how == "untracked":
        (worktree / "CHANGELOG.md").write_text("agent\n")
        check = gate("test -f CHANGELOG.md")
    else:
        (worktree / "flag").write_text("yes\n")
        check = gate("grep -q yes flag")
    head = head_of(repo, "middle/issue-7")
    checkout = GateCheckout(repo, checkout_path(tmp_path / "home", repo, "7"))
    try:
        result = run_gate(check, checkout.at(head), head)
    finally:
        checkout.remove()
    assert result.result == "failed" and result.head == git(worktree, "rev-parse", "HEAD")


def test_a_reused_checkout_holds_exactly_the_new_head(repo: Path, tmp_path: Path) -> None:
    """Seen red (the checkout moved to the new head without `git clean -ffdx`): what the
    first gate run left behind, ignored files too, was still there for the second."""
    worktree = agent_worktree(repo, tmp_path)
    first = head_of(repo, "middle/issue-7")
    checkout = GateCheckout(repo, checkout_path(tmp_path / "home", repo, "7"))
    try:
        path = checkout.at(first)
        (path / ".gitignore").write_text("build/\n")
        (path / "build").mkdir()
        (path / "build" / "out.o").write_text("")
        (path / "stray.txt").write_text("")
        (path / "flag").write_text("edited by a gate\n")
        (worktree / "CHANGELOG.md").write_text("agent\n")
        git(worktree, "add", "-A")
        git(worktree, "commit", "-q", "-m", "changelog")
        second = head_of(repo, "middle/issue-7")
        assert checkout.at(second) == path
        assert git(path, "rev-parse", "HEAD") == second
        assert git(path, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
        assert (path / "CHANGELOG.md").exists() and (path / "flag").read_text() == "no\n"
    finally:
        checkout.remove()
    assert not path.exists()
    assert str(path) not in git(repo, "worktree", "list")


def test_a_crashed_runs_leftover_checkout_is_cleaned_by_the_next_gate_run(
    repo: Path, tmp_path: Path
) -> None:
    """A process that died mid-gate leaves the folder; the next run of that issue's
    gates finds it at the same path, and it holds only the new head. Seen red without
    the `git clean`: the crashed run's file was still there."""
    path = checkout_path(tmp_path / "home", repo, "7")
    head = head_of(repo, "main")
    GateCheckout(repo, path).at(head)
    (path / "left-by-the-crash").write_text("")
    checkout = GateCheckout(repo, path)  # the next process
    assert checkout.at(head) == path and not (path / "left-by-the-crash").exists()
    checkout.remove()
    assert not path.exists()


def test_a_gate_that_deletes_dot_git_cannot_turn_the_next_reset_on_the_main_checkout(
    repo: Path,
) -> None:
    """Seen red (the reset run whenever the folder exists, without checking which
    checkout git found): with the checkout's `.git` gone and the state home inside the
    project, git found the main checkout above it, detached its HEAD and `git clean`
    deleted the user's untracked file."""
    (repo / "precious.txt").write_text("mine\n")
    checkout = GateCheckout(repo, checkout_path(repo / "middle-home", repo, "7"))
    head = head_of(repo, "main")
    run_gate(gate("rm -rf .git"), checkout.at(head), head)
    path = checkout.at(head)
    assert (path / "flag").exists() and git(path, "rev-parse", "--show-toplevel") == str(path)
    assert (repo / "precious.txt").exists()
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    checkout.remove()


def test_gates_leave_no_worktree_registered_and_run_no_repo_hooks(
    repo: Path, tmp_path: Path
) -> None:
    """Seen red without `core.hooksPath=/dev/null`: the repo's post-checkout hook ran on
    middle's own checkout."""
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {tmp_path / 'hook-ran'}\n")
    hook.chmod(0o755)
    checkout = GateCheckout(repo, checkout_path(tmp_path / "home", repo, "7"))
    checkout.at(head_of(repo, "main"))
    checkout.at(head_of(repo, "main"))
    checkout.remove()
    assert not (tmp_path / "hook-ran").exists()
    assert len(git(repo, "worktree", "list").splitlines()) == 1


# -- what a person reads ----------------------------------------------------------------


def test_a_park_on_gates_the_agent_never_heard_of_does_not_claim_three_reports() -> None:
    """Seen red: the park said "after 3 nudges" also when the agent's session had ended
    (or a person had taken it over) and no report reached it."""
    from middle.steps.outcome import gates_still_fail

    failed = {"gate": "lint", "category": "unit", "result": "failed", "duration_seconds": 1.0}
    run = {"head": "f" * 40, "results": [{**failed, "head": "f" * 40, "tail": "E501\n"}]}
    said = gates_still_fail({"gates": run, "gate_nudges": 0})
    assert said.startswith(f"verification gates still fail on commit {'f' * 12}, and middle")
    assert "could not report them" in said and said.endswith("\n  lint [unit] failed: E501")
    assert "after 3 reports" in gates_still_fail({"gates": run, "gate_nudges": 3})


def test_a_gate_that_points_dot_git_at_the_main_repository_cannot_reset_it(
    repo: Path, tmp_path: Path
) -> None:
    """A gate that rewrites `.git` into `gitdir: <repo>/.git` makes git take the kept
    checkout for a worktree of the main repository itself. Seen red with the check
    asking git for `--show-toplevel` (which names the checkout): the next reset detached
    the main checkout's HEAD onto the judged commit."""
    (repo / "precious.txt").write_text("mine\n")
    checkout = GateCheckout(repo, checkout_path(tmp_path / "home", repo, "0"))
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "flag").write_text("feature\n")
    git(repo, "commit", "-qam", "feature")
    git(repo, "checkout", "-q", "main")
    head = head_of(repo, "feature")
    run_gate(gate(f"echo 'gitdir: {repo / '.git'}' > .git"), checkout.at(head), head)
    path = checkout.at(head)
    assert git(path, "rev-parse", "--git-dir") != str(repo / ".git")
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert (repo / "flag").read_text() == "no\n" and (repo / "precious.txt").exists()
    checkout.remove()
