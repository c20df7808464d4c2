"""The pytest plugin for step and plugin authors: the README's own example, a built-in step
that needs services, and plugin-author test files run by `pytester`, away from this repo's
conftest."""

from __future__ import annotations

import re

import pytest

from middle import StepContext, step
from middle.issues.epic_file import Question
from middle.steps.outcome import park_for_resume
from middle.testing import StepHarness
from tests.conftest import REPO_ROOT

pytest_plugins = ["pytester"]


def readme_block(first_line: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    (block,) = re.findall(rf"```python\n({re.escape(first_line)}\n.*?)```", readme, re.S)
    return str(block)


def test_the_readme_plugin_and_its_test_pass_as_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        my_plugin=readme_block("# my_plugin.py"),
        test_my_plugin=readme_block("# test_my_plugin.py"),
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_harness_reports_an_injected_failure_that_outlasts_the_policy(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_exhausted="""
        import pytest
        from middle import step
        from middle.testing import InjectedFailure

        @step
        def fragile(ctx):
            return "never"

        def test_it(middle_harness):
            with pytest.raises(InjectedFailure, match="injected failure 3 of 5"):
                middle_harness.run(fragile, fail={"fragile": 5})
            assert len(middle_harness.events("step.attempt-failed")) == 3
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


class FakeIssues:
    """An issue store that keeps its questions in a list: as much of `IssueStore` as
    `park-for-resume` uses."""

    mode = "fake"

    def __init__(self) -> None:
        self.questions: list[Question] = []

    def open_question(self, ref: str) -> Question | None:
        return next((q for q in reversed(self.questions) if q.status == "open"), None)

    def record_question(self, ref: str, text: str, *, kind: str) -> str:
        number = str(len(self.questions) + 1)
        self.questions.append(Question(number, "open", kind, "2026-01-01T00:00:00Z", text, None))
        return number

    def how_to_answer(self, ref: str) -> str:
        return f"reply to question {ref} in the fake"

    def how_to_review(self, ref: str) -> str:
        return f"review {ref} in the fake"


@step("launch-and-drive")
def a_turn_that_asked(ctx: StepContext) -> dict[str, str]:
    """Stands in for the agent's turn: it stopped with a question."""
    return {"outcome": "asked-question", "question": "SQLite or Postgres?", "question_kind": "q"}


def test_a_built_in_step_that_uses_services_runs_under_the_harness(
    middle_harness: StepHarness,
) -> None:
    """`park-for-resume` asks the issue store through `services(ctx)`. Failed once after
    its body ran, it runs again, and the question is still recorded once."""
    issues = FakeIssues()
    middle_harness.use_services(issues=issues)

    result = middle_harness.run(
        a_turn_that_asked, park_for_resume, input={"ref": "7"}, fail_after={"park-for-resume": 1}
    )

    assert result.status == "completed"
    assert [(q.text, q.kind) for q in issues.questions] == [("SQLite or Postgres?", "q")]
    (failed,) = middle_harness.events("step.attempt-failed")
    assert failed["message"] == "injected failure 1 of 1, after 'park-for-resume' ran"
    waiting = middle_harness.events("workflow.waiting")[-1]  # an event per attempt
    assert waiting["reason"] == "asked-question"
    assert "reply to question 7 in the fake" in waiting["message"]  # the store says how


def test_without_use_services_a_step_that_needs_them_says_so(
    middle_harness: StepHarness,
) -> None:
    with pytest.raises(TypeError, match="'park-for-resume' needs middle's Services"):
        middle_harness.run(a_turn_that_asked, park_for_resume, input={"ref": "7"})


def test_a_plugin_authors_step_that_uses_services_is_tested_with_the_harness_alone(
    pytester: pytest.Pytester,
) -> None:
    """Outside this repo's conftest: only the `pytest11` entry point gives the fixture."""
    pytester.makepyfile(
        test_greeting="""
        from middle import StepContext, step
        from middle.steps.services import services

        @step
        def greet(ctx: StepContext) -> str:
            return services(ctx).config["greeting"]["text"] + ", " + ctx.input["name"]

        def test_greet(middle_harness):
            middle_harness.use_services(config={"greeting": {"text": "hello"}})
            result = middle_harness.run(greet, input={"name": "Ada"})
            assert result.results["greet"] == "hello, Ada"
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_middle_db_fails_a_test_that_leaves_a_transaction_open(
    pytester: pytest.Pytester,
) -> None:
    """The guarantee test_runner's own runner fixture used to give: an uncommitted write
    is an error at teardown, named as such."""
    pytester.makepyfile(
        test_open="""
        def test_commits(middle_db):
            middle_db["events"].insert({"ts": "t", "type": "x", "payload_json": "{}"})

        def test_leaves_one_open(middle_db):
            middle_db.execute("BEGIN")
            middle_db.execute("INSERT INTO events (ts, type, payload_json) VALUES ('t', 'x', '{}')")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*a transaction was left open on middle_db*"])
