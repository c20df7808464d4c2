"""The package's runtime dependencies (issue 11 item 21)."""

from __future__ import annotations

import fnmatch
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


def test_the_distribution_has_its_own_name_on_pypi() -> None:
    """`middle` on PyPI is another project (vltr/middle, with no `middle` command): this
    one is `middle-management`, at the version `middle.__version__` says, and the import
    name and the command stay `middle`. Seen red: the name was `middle`."""
    from importlib.metadata import entry_points, version

    from middle import __version__
    from middle.app.ci.workflow import DISTRIBUTION

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION == "middle-management"
    assert project["version"] == __version__ == version(DISTRIBUTION)
    assert project["scripts"] == {"middle": "middle.cli:main"}
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "middle"]
    assert script.dist is not None and script.dist.name == DISTRIBUTION


def test_package_data_carries_every_skill() -> None:
    """`middle init` and dispatch read the skills from the installed package, so a wheel
    without them would write nothing. (Building a wheel writes `build/` into the checkout,
    which is not xdist-safe, so this reads the globs setuptools uses.) Seen red:
    package-data had no `skills/*/*.md`."""
    from middle.system.skills import NAMES

    tool = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]
    globs = tool["setuptools"]["package-data"]["middle"]
    bundled = [
        *(f"skills/{name}/SKILL.md" for name in NAMES),
        "skills/modes/file.md",
        "skills/modes/github.md",
    ]
    for path in bundled:
        assert (REPO_ROOT / "middle" / path).is_file(), path
        assert any(fnmatch.fnmatch(path, glob) for glob in globs), f"{path} is not package data"
