"""The `middle` console script: an `invoke.Program` over the same collection as `invoke`.

`middle --help` leads with middle's own commands and the few options a middle user needs;
invoke's options for running shell commands come last, under their own heading.
"""

from __future__ import annotations

from typing import Any

from middle.cli.lean_invoke import import_invoke

import_invoke()  # before anything imports invoke: its unused parts load only when used

from invoke import Collection, Parser, ParserContext, Program  # noqa: E402
from invoke.util import helpline  # noqa: E402

from middle import __version__  # noqa: E402
from middle.cli.tasks import GROUPS, ns  # noqa: E402

# Invoke's core options that mean something to a middle user; the rest configure
# `c.run()` for tasks that run shell commands, which middle's own tasks do not.
MIDDLE_OPTIONS = ("help", "version", "list", "complete", "print-completion-script")


class MiddleProgram(Program):
    def print_help(self) -> None:
        print(f"Usage: {self.binary} <command> [--command-opts] ...")
        print(f"       {self.binary} <command> --help    (a command's own options)")
        print("")
        groups = command_groups(self.collection)
        width = max(len(name) for pairs in groups.values() for name, _ in pairs)
        for heading, pairs in groups.items():
            print(f"{heading}:")
            print("")
            # One width for every group, so the help texts line up down the page.
            self.print_columns([(name.ljust(width), text) for name, text in pairs])
        tuples: list[Any] = self.initial_context.help_tuples()
        ours = [pair for pair in tuples if _long_name(pair[0]) in MIDDLE_OPTIONS]
        rest = [pair for pair in tuples if _long_name(pair[0]) not in MIDDLE_OPTIONS]
        print("Options:")
        print("")
        self.print_columns(ours)
        print("Invoke's options, for tasks that run shell commands (before the command):")
        print("")
        self.print_columns(rest)

    def _make_parser(self) -> Parser:
        """invoke's parser, knowing only the commands named on the command line: each
        command's parser context costs a signature read and two deep copies, and `--help`
        or `status` needs one at most. A word that is not a command is refused as before
        ("No idea what 'x' is!"); one that is, is parsed as before."""
        words = {part for word in self.argv for part in word.split("=", 1)}
        ignore = self.config.tasks.ignore_unknown_help
        named = [
            ParserContext(
                name=name, aliases=aliases, args=self.collection[name].get_arguments(ignore)
            )
            for name, aliases in self.collection.task_names.items()
            if name in words or words.intersection(aliases)
        ]
        return Parser(initial=self.initial_context, contexts=named)


def command_groups(collection: Collection) -> dict[str, list[tuple[str, str | None]]]:
    """`GROUPS` as `--help` shows it: each heading's (command, first help line) pairs; a
    command of `collection` in no group comes last, under "Other"."""
    groups = {
        heading: [(collection.transform(task.name), helpline(task)) for task in tasks]
        for heading, tasks in GROUPS.items()
    }
    grouped = {name for pairs in groups.values() for name, _ in pairs}
    other = [(name, helpline(collection[name])) for name in sorted(collection.task_names)]
    groups["Other"] = [pair for pair in other if pair[0] not in grouped]
    return {heading: pairs for heading, pairs in groups.items() if pairs}


def _long_name(flags: str) -> str:
    """`-e, --echo` → `echo`; `-h [STRING], --help[=STRING]` → `help`."""
    long = [part for part in flags.split(", ") if part.startswith("--")]
    return long[0][2:].split("=")[0].split("[")[0] if long else flags


program = MiddleProgram(namespace=ns, version=__version__, name="middle", binary="middle")


# `middle config KEY [VALUE]`: invoke has no optional positional argument, so a missing
# VALUE is given as "" (read the key) before invoke parses; the flags that take a value
# are skipped when counting.
OPTIONAL_VALUE = {"config": ("-r", "--repo")}


def with_optional_value(argv: list[str]) -> list[str]:
    """`argv` with "" appended as VALUE when a command of `OPTIONAL_VALUE` got only KEY."""
    for at, token in enumerate(argv[1:], start=1):
        if token in OPTIONAL_VALUE:
            takes_value = OPTIONAL_VALUE[token]
            positional, skip = 0, False
            for word in argv[at + 1 :]:
                if skip:
                    skip = False
                elif word in takes_value:
                    skip = True
                elif word in ("-h", "--help"):  # else invoke reads it as KEY
                    return [argv[0], "--help", token]
                elif not word.startswith("-"):
                    positional += 1
            return [*argv, ""] if positional == 1 else argv
        if not token.startswith("-"):
            return argv  # another command
    return argv


def main() -> None:
    import os
    import sys

    try:
        program.run(with_optional_value(sys.argv))
        sys.stdout.flush()
    except BrokenPipeError:  # `middle status | head`: the reader left, as it may
        # Point stdout at nothing so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a killed writer
