"""A state bundle on disk: a directory, or a single `.json` file.

- a directory holds `state.json` and `transcripts/<workflow id>` (any CI's artifact or
  cache);
- a `.json` file holds the document with the transcripts inside, base64-encoded.

Both are private (files 0600, folders 0700): a transcript is the agent's conversation.
Neither is ever written in place. A file is written under a temporary name beside it,
fsynced and renamed over the old one. A directory is written whole beside it
(`.<name>.new`), fsynced, and swapped in by two renames; the old one waits as
`.<name>.old` in between, and a read that finds no bundle but that one reads it. So an
export killed at any moment leaves the old bundle or the new one, whole.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from middle.app.carry.bundle import DOCUMENT, TRANSCRIPTS, Refusal, StateBundle, check_bundle
from middle.errors import UNREADABLE_JSON, StateFormatError
from middle.system.files import sync_dir, write_private


def write_bundle(bundle: StateBundle, path: Path) -> None:
    """A path ending in `.json` gets one file; any other path becomes a directory. What
    is there already is replaced only if it is a bundle of the same form."""
    path = Path(os.path.abspath(path))
    check_replaceable(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.suffix == ".json":
        encoded = {name: base64.b64encode(data).decode() for name, data in bundle.files.items()}
        write_private(path, json.dumps({**bundle.doc, "files": encoded}, indent=1).encode())
        return
    staging, old = _beside(path, "new"), _beside(path, "old")
    _remove(staging)
    staging.mkdir(mode=0o700)
    (staging / TRANSCRIPTS).mkdir(mode=0o700)
    _write_synced(staging / DOCUMENT, json.dumps(bundle.doc, indent=1).encode())
    for name, data in bundle.files.items():
        _write_synced(staging / name, data)
    sync_dir(staging / TRANSCRIPTS)
    sync_dir(staging)
    if path.exists() or path.is_symlink():
        _remove(old)
        os.rename(path, old)
    os.rename(staging, path)
    sync_dir(path.parent)
    _remove(old)


def check_replaceable(path: Path) -> None:
    """Refuse to put a bundle where something else is: a folder of other files (the
    checkout, say) is never moved aside and deleted, nor a folder replaced by a file."""
    if not (path.exists() or path.is_symlink()):
        return
    problem = None
    if path.is_symlink():
        problem = "a symbolic link"
    elif path.suffix == ".json" and path.is_dir():
        problem = "a folder"
    elif path.suffix != ".json" and not path.is_dir():
        problem = "a file (a bundle directory goes there; a path ending in .json is a file)"
    elif path.suffix != ".json":
        others = sorted(set(os.listdir(path)) - {DOCUMENT, TRANSCRIPTS})
        if others:
            problem = f"a folder holding other files than a bundle's ({others[0]!r}, ...)"
    if problem is not None:
        raise StateFormatError(
            f"cannot write a state bundle at {path}: it is {problem}; give --path a new "
            f"path, or one an export wrote"
        )


def read_bundle(path: Path) -> StateBundle:
    """The bundle in a `.json` file or a directory written by `write_bundle`, checked."""
    source = str(path)
    refuse = Refusal(source)
    leftover = _beside(path, "old")
    if not path.exists() and leftover.is_dir():  # an export stopped between its renames
        path = leftover
    try:
        if path.is_dir():
            doc, files = _read_dir(path, refuse)
        else:
            doc = json.loads(path.read_bytes())
            files = _decode(doc.pop("files", {}) if isinstance(doc, dict) else {}, refuse)
    except FileNotFoundError as exc:
        raise StateFormatError(
            f"no state bundle at {path} ({exc.filename} is missing); export one with: "
            f"middle state export --issue REF --path {path}"
        ) from exc
    except UNREADABLE_JSON as exc:  # not UTF-8 (a ValueError too), not JSON, nested too deep
        raise refuse(f"it is not JSON ({str(exc)[:120]})") from exc
    except OSError as exc:
        raise StateFormatError(f"cannot read the state bundle {source}: {exc.strerror}") from exc
    return StateBundle(check_bundle(doc, files, source), files, source=source)


def _read_dir(path: Path, refuse: Refusal) -> tuple[Any, dict[str, bytes]]:
    """The document and the files of a bundle directory: regular files only, no links."""
    unknown = sorted(set(os.listdir(path)) - {DOCUMENT, TRANSCRIPTS})
    if unknown:
        raise refuse(f"unknown file {unknown[0]!r}")
    doc = json.loads(_regular(path / DOCUMENT, refuse))
    files: dict[str, bytes] = {}
    folder = path / TRANSCRIPTS
    if folder.exists() or folder.is_symlink():
        if not stat.S_ISDIR(folder.lstat().st_mode):
            raise refuse(f"{TRANSCRIPTS} is not a folder")
        for name in sorted(os.listdir(folder)):
            files[f"{TRANSCRIPTS}/{name}"] = _regular(folder / name, refuse)
    return doc, files


def _regular(path: Path, refuse: Refusal) -> bytes:
    """The bytes of `path`, which must be a regular file (a link is not followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse(f"{path.name} is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise refuse(f"{path.name} is not a regular file")
        return handle.read()


def _decode(encoded: Any, refuse: Refusal) -> dict[str, bytes]:
    if not isinstance(encoded, dict) or not all(isinstance(v, str) for v in encoded.values()):
        raise refuse("its `files` is not a map of names to base64 text")
    try:
        return {name: base64.b64decode(text, validate=True) for name, text in encoded.items()}
    except binascii.Error as exc:
        raise refuse(f"a file in it is not base64 ({exc})") from exc


# -- writing ------------------------------------------------------------------------------


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _beside(path: Path, kind: str) -> Path:
    return path.parent / f".{path.name}.{kind}"


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
