"""Atomic file writes (a crash never leaves a truncated file that a later step reads) and an inter-process lock."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.errors import StorageFullError

NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # a full disk, a file-size limit, a quota


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place. Out of room, the
    temporary file is removed and :class:`StorageFullError` says which file; ``path`` is unchanged."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in NO_ROOM:
            raise StorageFullError(exc.errno, f"no room to write {target} ({exc.strerror}): the disk of its folder is "
                                   "full or the process may not write larger files; the file it would replace is "
                                   "unchanged") from exc
        raise
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: str | os.PathLike[str], frame: Any) -> Path:
    """Atomically write a pandas DataFrame as Parquet (without its index)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return write_bytes(path, buffer.getvalue())


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_arrays(ids: Sequence[str], arrays: Iterable[Any]) -> str:
    """Hex SHA-256 of a list of ids (as JSON) followed by the bytes of each array, in order (give them a fixed
    dtype and byte order, e.g. ``astype("<f8")``, so equal data digests equally on every machine)."""
    digest = hashlib.sha256(json.dumps(list(ids)).encode())
    for array_ in arrays:
        digest.update(array_.tobytes())
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def exclusive_lock(path: str | os.PathLike[str], timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive advisory lock (``flock``) on ``path`` for the block; wait at most ``timeout`` seconds."""
    import fcntl

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(target, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"waited {timeout:.0f}s for the lock {target}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
