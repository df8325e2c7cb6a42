"""The `karma` script as a user runs it: the one installed into the environment's scripts
folder, run from a directory outside the checkout. Run as `python -m entrypoints.cli` from the
repository root instead, a package missing from the install would still import."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

KARMA = [str(Path(sysconfig.get_path("scripts")) / "karma")]
CHECKOUT = Path(__file__).resolve().parents[2]


def user_env(**settings: str) -> dict[str, str]:
    """The test process's environment without the project's settings or a PYTHONPATH that
    could lead the script back into the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KARMA_") and k != "PYTHONPATH"}
    return env | settings


def karma(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120,
          check: bool = True) -> subprocess.CompletedProcess:
    assert CHECKOUT not in (cwd.resolve(), *cwd.resolve().parents), "run it from outside"
    done = subprocess.run([*KARMA, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    return done


def container_env(container: Any, home: Path | None = None, **settings: str) -> dict[str, str]:
    """``user_env`` pointing the script at a test container's servers and stream namespace
    (its data folder, or ``home``)."""
    return user_env(KARMA_HOME=str(home or container.settings.home),
                    KARMA_DATABASE_URL=container.endpoints.database_url,
                    KARMA_NATS_URL=container.endpoints.nats_url,
                    KARMA_NATS_NAMESPACE=container.settings.nats_namespace, **settings)
