"""The ACP supervisor's terminal: lines typed or pasted into its tmux pane.

middle pastes a prompt as one bracketed paste (`paste-buffer -p`), then presses Enter. In
canonical mode the terminal would cut a line at 4095 bytes and split a paste at each of
its newlines, so the supervisor reads the raw bytes: a bracketed paste is taken whole,
newlines and all, and Enter outside a paste ends the line.
"""

from __future__ import annotations

import contextlib
import sys
import termios
from collections.abc import Iterator
from typing import TextIO

PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"
BRACKETED_PASTE_ON = "\x1b[?2004h"
BRACKETED_PASTE_OFF = "\x1b[?2004l"


class LineEditor:
    """Bytes in, finished lines out. Enter (CR or LF) outside a paste ends a line;
    inside a paste a CR is a newline; backspace takes back one character; other control
    bytes and escape sequences (arrow keys) are dropped."""

    def __init__(self) -> None:
        self.pending = b""  # bytes not yet understood (a sequence cut between reads)
        self.line = bytearray()
        self.in_paste = False

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        data = self.pending + data
        self.pending = b""
        index = 0
        while index < len(data):
            rest = data[index:]
            if rest.startswith(b"\x1b"):
                for marker, pasting in ((PASTE_START, True), (PASTE_END, False)):
                    if rest.startswith(marker):
                        self.in_paste = pasting
                        index += len(marker)
                        break
                    if marker.startswith(rest):  # cut between two reads
                        self.pending = rest
                        return lines
                else:
                    index += _escape_length(rest)
                continue
            byte = data[index]
            index += 1
            if byte in (0x0D, 0x0A):
                if self.in_paste:
                    self.line += b"\n"
                else:
                    lines.append(self.line.decode("utf-8", errors="replace"))
                    self.line.clear()
            elif byte in (0x7F, 0x08):
                text = self.line.decode("utf-8", errors="replace")[:-1]
                self.line = bytearray(text.encode())
            elif byte == 0x09 or byte >= 0x20:
                self.line.append(byte)
        return lines


def _escape_length(rest: bytes) -> int:
    """How many bytes an escape sequence at the start of `rest` takes (CSI: up to its
    final byte); a lone ESC is one."""
    if rest[1:2] != b"[":
        return min(2, len(rest))
    for offset in range(2, len(rest)):
        if 0x40 <= rest[offset] <= 0x7E:
            return offset + 1
    return len(rest)


@contextlib.contextmanager
def raw_terminal(stream: TextIO) -> Iterator[None]:
    """No echo and no line editing by the terminal, bracketed pastes on; restored after.
    Not a terminal (a pipe, in a test): nothing to change."""
    if not stream.isatty():
        yield
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    changed = termios.tcgetattr(fd)
    changed[0] &= ~(termios.ICRNL | termios.IXON)  # iflag: CR stays CR; Ctrl-S is a byte
    changed[3] &= ~(termios.ICANON | termios.ECHO | termios.IEXTEN)  # lflag
    changed[6][termios.VMIN] = 1
    changed[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, changed)
    sys.stdout.write(BRACKETED_PASTE_ON)
    sys.stdout.flush()
    try:
        yield
    finally:
        sys.stdout.write(BRACKETED_PASTE_OFF)
        sys.stdout.flush()
        termios.tcsetattr(fd, termios.TCSANOW, saved)
