"""The `middle` console script: an `invoke.Program` over the same collection as `invoke`.

`middle --help` leads with middle's own commands and the few options a middle user needs;
invoke's options for running shell commands come last, under their own heading.
"""

from __future__ import annotations

from typing import Any

from invoke import Program

from middle import __version__
from middle.cli.tasks import ns

# Invoke's core options that mean something to a middle user; the rest configure
# `c.run()` for tasks that run shell commands, which middle's own tasks do not.
MIDDLE_OPTIONS = ("help", "version", "list", "complete", "print-completion-script")


class MiddleProgram(Program):
    def print_help(self) -> None:
        print(f"Usage: {self.binary} <command> [--command-opts] ...")
        print(f"       {self.binary} <command> --help    (a command's own options)")
        print("")
        print("Commands:")
        print("")
        self.print_columns(self._make_pairs(self.scoped_collection))
        tuples: list[Any] = self.initial_context.help_tuples()
        ours = [pair for pair in tuples if _long_name(pair[0]) in MIDDLE_OPTIONS]
        rest = [pair for pair in tuples if _long_name(pair[0]) not in MIDDLE_OPTIONS]
        print("Options:")
        print("")
        self.print_columns(ours)
        print("Invoke's options, for tasks that run shell commands (before the command):")
        print("")
        self.print_columns(rest)


def _long_name(flags: str) -> str:
    """`-e, --echo` → `echo`; `-h [STRING], --help[=STRING]` → `help`."""
    long = [part for part in flags.split(", ") if part.startswith("--")]
    return long[0][2:].split("=")[0].split("[")[0] if long else flags


program = MiddleProgram(namespace=ns, version=__version__, name="middle", binary="middle")


def main() -> None:
    program.run()
