"""Where the tests find the repository's files: the checkout they live in."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SAMPLES = sorted((ROOT / "samples").glob("*.jpg"))
