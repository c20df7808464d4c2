"""The package's runtime dependencies (issue 11 item 21)."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import REPO_ROOT


def test_every_runtime_dependency_has_a_major_version_bound() -> None:
    """A new major release of a dependency may break middle; an upper bound keeps a fresh
    install on the majors middle was tested with. Seen red: `invoke>=3` had no bound."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        lower = [s for s in requirement.specifier if s.operator == ">="]
        upper = [s for s in requirement.specifier if s.operator == "<"]
        assert lower and upper, f"{line}: give both >= and <"
        bound = Version(upper[0].version)
        assert bound.release[1:] in ((), (0,), (0, 0)), f"{line}: bound a major version"
        assert bound.major > Version(lower[0].version).major, line
