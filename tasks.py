"""This repository's tasks: middle's own (`invoke status`, `invoke doctor`, ...) plus `dev`."""

from invoke import Collection, Context, task

from middle.tasks import ns


@task
def test(c: Context) -> None:
    """Run the test suite in parallel, as CI does."""
    c.run("pytest -n auto", pty=False)


@task
def lint(c: Context) -> None:
    """ruff and mypy, both clean."""
    c.run("ruff check .")
    c.run("ruff format --check .")
    c.run("mypy")


@task(help={"quick": "the short variant CI runs"})
def bench(c: Context, quick: bool = False) -> None:
    """All benchmarks (bench/): engine, dispatch, start-up, hooks, scale; writes JSON."""
    c.run(f"python -m bench.run{' --quick' if quick else ''}")


ns.add_collection(Collection("dev", test, lint, bench))
