"""Keep Ultralytics off the network: no weight downloads, no font fetch, no pip.

Call ``configure(workdir)`` before importing ``ultralytics``; it only sets the
environment variables Ultralytics reads at import and places a font file it would
otherwise download.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def configure(workdir: Path) -> None:
    config_dir = Path(workdir) / "ultralytics-config"
    (config_dir / "Ultralytics").mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ.setdefault("MPLBACKEND", "Agg")
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        import matplotlib

        dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        shutil.copyfile(dejavu, font)
