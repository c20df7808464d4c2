"""The user's files that middle reads and rewrites (config, Epics, the state file): one
way to say a file is not UTF-8, one way to replace a file in place, and one way to keep a
file of middle's private."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """The one line that says where `path` stops being UTF-8 (`exc` from decoding it)."""
    byte = exc.object[exc.start]
    return (
        f"{path} is not UTF-8 text: byte 0x{byte:02x} at offset {exc.start} cannot be "
        "decoded; save the file as UTF-8"
    )


def replace_file(path: Path, text: str) -> None:
    """Write `text` over `path` atomically, so a reader or a crash never sees half a file.

    The file is a person's as much as middle's: it keeps its mode (a new one gets the
    umask's, as any editor would give it), and through a symlink the link's target is
    rewritten and the link stays a link."""
    target = Path(os.path.realpath(path))
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    # os.urandom, as secrets.token_hex does, without loading hmac and hashlib at start-up
    temporary = target.parent / f".{target.name}.{os.urandom(6).hex()}.tmp"
    # O_EXCL: never write through something already there; 0o666 leaves the mode to umask.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` (mode 0600) atomically: a temporary file beside it,
    fsynced, renamed over it. A symbolic link at `path` is replaced, never followed."""
    import tempfile  # only a write needs it, not every command that reads the config

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    """Make a rename or a new file in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private(path: Path) -> None:
    """Take group and other bits off `path` (0755 becomes 0700, 0644 0600, 0555 0500).
    Best effort: a mode middle may not change is left for doctor to report."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)
    except OSError:
        pass  # not ours to change, or gone: `loose_mode` says so in doctor
