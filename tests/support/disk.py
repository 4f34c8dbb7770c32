"""A small real filesystem that fills up: a tmpfs of a few MiB, mounted for one test.

Mounting needs root (CI runs the tests as root). Where mounting is refused,
:func:`can_mount` is False and the tests that need a disk that fills use the file size
limit instead (``RLIMIT_FSIZE``: ``os.write`` past it fails with EFBIG, a real kernel error).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path


@cache
def can_mount() -> bool:
    probe = Path("/tmp") / "heron-tmpfs-probe"
    probe.mkdir(exist_ok=True)
    try:
        with small_disk(probe, 64 * 1024):
            return True
    except (OSError, subprocess.CalledProcessError):
        return False


@contextmanager
def small_disk(directory: Path, size: int) -> Iterator[Path]:
    """``directory`` as a tmpfs of ``size`` bytes for the duration of the block."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        check=True,
        capture_output=True,
    )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)


def fill(directory: Path) -> Path:
    """Fill the filesystem of ``directory`` to the last byte; returns the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 1):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler
