"""Build a folder once and publish it whole, safely when several processes race to build it.

Each process builds into a temporary folder of its own beside the target and renames it onto
the target: a rename is atomic, so a reader sees no folder or a complete one. When another
process published first the rename fails, and this one removes its copy and uses theirs. A
build that fails removes what it wrote.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def publish_folder(target: Path, build: Callable[[Path], None]) -> bool:
    """Run ``build`` on an empty folder and publish it as ``target``. Returns whether this
    call published it (False: another process was first, and its folder is kept)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=target.parent))
    try:
        build(staging)
        try:
            os.rename(staging, target)
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not target.is_dir():
                raise
            return False
        return True
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already once renamed
