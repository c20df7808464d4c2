"""The pytest plugin for step authors, exercised through the README's own example."""

from __future__ import annotations

import re

import pytest

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
