"""Declaring steps: names, defaults, and policies described in words."""

from __future__ import annotations

import pytest
from tenacity import (
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
    wait_none,
    wait_random,
)

from middle import StepContext, step
from middle.engine import Step


def test_bare_decorator_names_the_step_in_kebab_case() -> None:
    @step
    def prepare_worktree(ctx: StepContext) -> str:
        return "ok"

    assert isinstance(prepare_worktree, Step)
    assert prepare_worktree.name == "prepare-worktree"
    assert prepare_worktree.policy == "3 attempts, exponential backoff with jitter (max 30s)"
    assert prepare_worktree.compensate is None


def test_arguments_set_the_name_policy_and_compensation() -> None:
    def remove(ctx: StepContext) -> None: ...

    @step("launch-and-drive", stop=stop_after_attempt(1), compensate=remove)
    def launch(ctx: StepContext) -> None: ...

    assert (launch.name, launch.compensate) == ("launch-and-drive", remove)
    assert launch.policy == "1 attempt, no retry"


@pytest.mark.parametrize(
    ("stop", "wait", "words"),
    [
        (stop_after_attempt(5), wait_fixed(2), "5 attempts, 2s between attempts"),
        (stop_after_attempt(2), wait_none(), "2 attempts, no wait"),
        (
            stop_after_attempt(5) | stop_after_delay(60),
            wait_exponential(max=10) + wait_random(0, 1),
            "5 attempts or retries for 60s, exponential backoff (max 10s) + random 0-1s wait",
        ),
    ],
)
def test_composed_policies_read_as_words(stop: object, wait: object, words: str) -> None:
    @step(stop=stop, wait=wait)  # type: ignore[arg-type]
    def s(ctx: StepContext) -> None: ...

    assert s.policy == words


def test_the_name_can_be_given_by_keyword_as_pytest_and_invoke_allow() -> None:
    """Issue 11 item 20. Seen red: `@step(name="x")` raised TypeError (positional-only)."""

    @step(name="prepare-worktree", stop=stop_after_attempt(1))
    def anything(ctx: StepContext) -> None:
        return None

    assert anything.name == "prepare-worktree"
    assert anything.policy == "1 attempt, no retry"
