"""Private directories in shared places (the temp directory): created 0700, checked before use.

Lithops unpickles results and functions and imports modules from its directories under the
shared temp directory; one that another local user created first or can write to would let them
read the data and run code as this user.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["private_dir"]


def private_dir(path: Path, strict: bool = True, error: type[Exception] = PermissionError,
                option: str | None = None) -> Path:
    """Create ``path`` (mode 0700) or check that it is the user's own: not a symlink, owned by
    this user, and not writable by anybody else (``strict``: no access by anybody else at all; a
    directory of the user that only others could read is tightened to 0700).

    Args:
        path: the directory; its parent must exist.
        strict: refuse any access by group or others, not only writes.
        error: the exception class raised when the directory is not private.
        option: the configuration key that chooses another directory, for the message.

    Returns:
        ``path``.
    """
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    fix = "Remove it (ask an administrator if it is not yours)" + (f" or set {option!r} to a private directory." if option else ".")
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise error(f"{path} is a symlink or not a directory: refused. {fix}")
    if info.st_uid != os.getuid():
        raise error(
            f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}): refused, its owner could"
            f" read and replace your data. {fix}"
        )
    if strict and info.st_mode & 0o077 and not info.st_mode & 0o022:
        # Ours and nobody else could write into it (an older lithops made it 0755): tighten it.
        os.chmod(path, 0o700)
        info = os.lstat(path)
    mask = 0o077 if strict else 0o022
    if info.st_mode & mask:
        raise error(
            f"{path} has mode {stat.S_IMODE(info.st_mode):04o}: other users can"
            f" {'access' if strict else 'write to'} it, refused. Run 'chmod 700 {path}'"
            + (f" or set {option!r} to another directory." if option else ".")
        )
    return path
