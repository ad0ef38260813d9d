"""Writing secrets (private keys, shared secrets) to disk so that nobody else can read or swap them.

Each file is created fresh beside its final name with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode
0600, then renamed over that name: a symlink planted where the file goes is replaced, never
written through. The directory must be ours and not writable by others (who could otherwise
rename or replace the files after we wrote them); a new one is created mode 0700.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .errors import DeployError


def private_directory(path: Path) -> Path:
    """Create `path` (mode 0700) or check that the existing one is safe for private files."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as err:
        raise DeployError(
            f"cannot create {path}: {err.strerror}; pick another --out directory"
        ) from None
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise DeployError(f"{path} is a symbolic link; pass the real directory as --out")
    if not stat.S_ISDIR(info.st_mode):
        raise DeployError(f"{path} exists and is not a directory; pick another --out directory")
    if info.st_uid != os.getuid():
        raise DeployError(f"{path} belongs to another user; pick a directory of your own as --out")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise DeployError(
            f"{path} is writable by other users (mode {stat.S_IMODE(info.st_mode):04o}), who could "
            f"swap the files; run `chmod go-w {path}` or pick another --out directory"
        )
    return path


def write_private_file(directory: Path, name: str, text: str, *, force: bool = False) -> Path:
    """Write `text` to directory/name, mode 0600, through a new file renamed into place."""
    path = directory / name
    if os.path.lexists(path) and not force:
        raise DeployError(f"{path} exists; pass --force to overwrite it.")
    temp = directory / f".{name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(temp, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as err:
        if os.path.lexists(temp):
            os.unlink(temp)
        raise DeployError(f"cannot write {path}: {err.strerror}") from None
    return path
