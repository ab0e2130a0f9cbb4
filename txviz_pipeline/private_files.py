"""Files and folders only their owner can reach: what txviz writes may hold card numbers.

The txviz home and the folders txviz writes into are 0700, the files holding card data 0600, and
the processes txviz owns (the CLI, the embedded stack server, and what they start) run with
``PRIVATE_UMASK`` so every other file they create is private too.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """``path`` made 0700, and so is every parent this creates (an existing parent is left)."""
    for folder in [*reversed(path.parents), path]:
        if not folder.is_dir():
            folder.mkdir(exist_ok=True)
            folder.chmod(0o700)
    path.chmod(0o700)
    return path


def private_opener(path: str, flags: int) -> int:
    """An ``open(..., opener=)`` that creates files 0600 and tightens an existing one."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd
