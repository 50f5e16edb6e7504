"""The multiprocess directory of prometheus_client, chosen before prometheus_client loads.

prometheus_client decides at import whether samples go to memory or to files in
``PROMETHEUS_MULTIPROC_DIR``; so this module imports nothing of it, and the ops command
calls ``use_multiprocess_dir`` before it imports the gateway or the worker.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def use_multiprocess_dir(base: Path, role: str) -> Path:
    """A fresh directory for this role's processes, set as PROMETHEUS_MULTIPROC_DIR.

    Call before the role's processes import prometheus_client (the ops command does, before
    it starts gunicorn or a worker). One directory per role and pid: two pools on one
    machine never count each other's samples.
    """
    path = Path(base) / f"{role}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path
