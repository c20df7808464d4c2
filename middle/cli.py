"""The `middle` console script: an `invoke.Program` over the same collection as `invoke`."""

from __future__ import annotations

from invoke import Program

from middle import __version__
from middle.tasks import ns

program = Program(namespace=ns, version=__version__, name="middle", binary="middle")


def main() -> None:
    program.run()
