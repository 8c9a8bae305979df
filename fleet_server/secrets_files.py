"""Files that hold secrets (broker passwords and ACL, keys, the database, logs, configs with
passwords): 0600 in 0700 directories, written atomically, never world-readable even for a moment."""
from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE, DIR_MODE = 0o600, 0o700


def private_dir(path: Path) -> Path:
    """`path` created if missing and made 0700 (an existing one is tightened, never loosened; a
    shared sticky directory such as /tmp is left as it is)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    mode = path.stat().st_mode
    if mode & 0o077 and not mode & stat.S_ISVTX:
        os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: bytes | str) -> Path:
    """Atomic write of a secret: the temporary file is created 0600, then renamed over `path`."""
    return _write(path, data, FILE_MODE)


def write_public(path: Path, data: bytes | str) -> Path:
    """Atomic write of a file anyone may read (a certificate)."""
    return _write(path, data, 0o644)


def _write(path: Path, data: bytes | str, mode: int) -> Path:
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)   # O_CREAT's mode is masked by the umask and ignored for an existing file
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def tighten(path: Path) -> None:
    """An existing secret file made 0600 (a database or log another library created)."""
    path = Path(path)
    if path.exists() and path.stat().st_mode & 0o077:
        os.chmod(path, FILE_MODE)
