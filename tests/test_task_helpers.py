"""The one rule for errors at the command line (`middle_task`)."""

from __future__ import annotations

import pytest
from invoke import Context
from invoke.exceptions import Exit

from middle.cli.helpers import middle_task
from middle.errors import GitHubError


def test_an_error_carrying_another_programs_lines_prints_one_line() -> None:
    """gh (and git) explain a failure over several lines; the user still gets one line.
    Seen red: a job given a bad token printed gh's 'Try authenticating with: gh auth
    login' on a second line."""

    @middle_task()
    def fails(c: Context) -> None:
        raise GitHubError(
            "gh api repos/o/r failed: HTTP 401: Bad credentials\n"
            "Try authenticating with:  gh auth login\n"
        )

    with pytest.raises(Exit) as raised:
        fails(Context())
    assert raised.value.message == (
        "middle: gh api repos/o/r failed: HTTP 401: Bad credentials; "
        "Try authenticating with:  gh auth login"
    )
