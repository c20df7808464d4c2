"""The tasks that configure middle and keep it current: `config`, `version`, `update`
(`init` and `uninit` are in `middle.cli.tasks`)."""

from __future__ import annotations

from invoke import Context

from middle.cli.helpers import REPO_HELP, middle_task
from middle.cli.helpers import console as _console


@middle_task(
    positional=["key", "value"],
    help={
        "key": "TABLE.KEY, e.g. limits.max_concurrent (or adapters.NAME.KEY)",
        "value": 'TOML: 3, true, "15m"; a bare word is a string (leave out to read the key)',
        "repo": REPO_HELP,
        "global": "set it in $MIDDLE_HOME/config.toml instead of the repo's .middle/policy.toml",
    },
)
def config(c: Context, key: str, value: str, repo: str = ".", global_: bool = False) -> None:
    """Read a setting (merged, and where from), or set one: middle config KEY [VALUE]."""
    from middle.app.configure.settings import set_setting, show_setting

    if value == "":
        _console().print(show_setting(repo, key), markup=False)
        return
    _console().print(f"✓ {set_setting(repo, key, value, global_=global_)}", markup=False)


@middle_task()
def version(c: Context) -> None:
    """Show middle's version, and the commit and branch of a source checkout."""
    from middle.app.configure.version import this_install, version_line

    print(version_line(this_install()))


@middle_task()
def update(c: Context) -> None:
    """Pull and reinstall a clean source checkout; otherwise print the pip command."""
    from middle.app.configure.update import update as run_update

    console = _console()
    for line in run_update():
        console.print(line, markup=False)
