"""Reading a CLI's dialogs by their whole shape, never by a phrase.

A dialog middle answers is the last thing on the screen: its footer is the last line, the
numbered menu of its options is right above it (blank lines aside), and its title is a
line of the block above the menu (up to the nearest rule, or the screen's top). A command
on a permission prompt, the agent's output in the scrollback, or text in the input box can
hold any of a dialog's phrases, even draw the whole dialog line by line, but the CLI draws
its own prompt or input box below them, so none of them ends the screen as a dialog does.
Adapters check for their permission prompt before any dialog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from middle.agents.base import Screen

# A menu line: an optional cursor mark (Claude's and Copilot's U+276F, Codex's U+203A,
# Gemini's U+25CF), a number, its text.
_MENU_LINE = re.compile("^\\s*(?:([\u276f\u203a\u25cf>])\\s*)?(\\d{1,2})\\.\\s+(\\S.*?)\\s*$")
_RULE = re.compile("^\\s*[\u2500\u2501]{20,}\\s*$")  # a box-drawing rule: a block's top
_BOX_SIDES = " \u2502"  # a box's sides
_BOX_ONLY = re.compile("^[\u2500-\u257f ]*$")  # box drawing alone: a top, a rule, a bottom


@dataclass(frozen=True)
class Menu:
    """The menu a screen ends with: the block above it (stripped, non-blank lines, top
    down, from the rule or the screen's top), its options in order, the one under the
    cursor, and the footer (the screen's last line, or "" when that is the menu's last
    option, as under Claude's WebFetch prompt)."""

    block: tuple[str, ...]
    options: tuple[str, ...]
    cursor: int
    footer: str


@dataclass(frozen=True)
class Dialog:
    """A dialog middle answers, by its shape: `title` is a whole line of its block,
    `options` its whole menu in order (its first options, when `more_options`: a menu
    whose later options vary), `footer` its last line. It is answered by moving the cursor
    to `answer` and pressing Enter. `kind` is `rate-limited` for a usage-limit menu."""

    name: str
    title: str
    options: tuple[str, ...]
    footer: str
    answer: str
    kind: Literal["dialog", "rate-limited"] = "dialog"
    more_options: bool = False

    def fits(self, menu: Menu) -> bool:
        listed = menu.options if not self.more_options else menu.options[: len(self.options)]
        return listed == self.options and menu.footer == self.footer and self.title in menu.block

    def keys(self, menu: Menu) -> tuple[str, ...]:
        moves = self.options.index(self.answer) - menu.cursor
        return ("Down",) * moves + ("Up",) * -moves + ("Enter",)


def trailing_menu(pane: str) -> Menu | None:
    """The menu that ends the screen, or None when the screen does not end in one (an
    input box, a prompt whose footer is not under a menu, a half-drawn frame)."""
    lines = [line.rstrip() for line in pane.splitlines()]
    _drop_blank_tail(lines)
    if not lines:
        return None
    footer = "" if _MENU_LINE.match(lines[-1]) else lines.pop().strip()  # no footer line
    _drop_blank_tail(lines)
    found: list[tuple[str | None, str, str]] = []
    while lines and (line := _MENU_LINE.match(lines[-1])):
        found.insert(0, (line[1], line[2], line[3]))
        lines.pop()
    numbers = [int(number) for _, number, _ in found]
    cursors = [index for index, (mark, _, _) in enumerate(found) if mark]
    if not found or numbers != list(range(1, len(found) + 1)) or len(cursors) != 1:
        return None
    top = max((i + 1 for i, line in enumerate(lines) if _RULE.match(line)), default=0)
    block = tuple(line.strip() for line in lines[top:] if line.strip())
    return Menu(block, tuple(text for _, _, text in found), cursors[0], footer)


def read_dialog(pane: str, dialogs: tuple[Dialog, ...]) -> Screen | None:
    """The dialog of `dialogs` that ends the screen, by its whole shape, as the screen to
    answer; None if the screen is none of them."""
    menu = trailing_menu(pane)
    if menu is None:
        return None
    for dialog in dialogs:
        if dialog.fits(menu):
            return Screen(dialog.kind, name=dialog.name, keys=dialog.keys(menu))
    return None


def trailing_box(pane: str) -> str | None:
    """The inside of the box that ends the screen (Copilot and Gemini draw each dialog in
    one), its sides, rules and inner boxes' frames gone; None when the screen does not end
    in a box. What is inside is then read like any screen (`trailing_menu`, `read_dialog`)."""
    lines = [line.rstrip() for line in pane.splitlines()]
    _drop_blank_tail(lines)
    if not lines or not lines[-1].lstrip().startswith("\u2570"):  # the box's bottom
        return None
    tops = [i for i, line in enumerate(lines) if line.lstrip().startswith("\u256d")]
    if not tops:
        return None
    inside = []
    for line in lines[tops[-1] + 1 : -1]:
        text = line.strip(_BOX_SIDES)
        inside.append("" if _BOX_ONLY.match(text) else text.strip(_BOX_SIDES))
    return "\n".join(inside)


def _drop_blank_tail(lines: list[str]) -> None:
    while lines and not lines[-1].strip():
        lines.pop()
