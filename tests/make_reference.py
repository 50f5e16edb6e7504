"""Regenerate the stored reference detections after a deliberate model change.

    python -m tests.make_reference

Writes tests/reference/<model version>.json for the model the tests pin (v1) and the
model the `accurate` mode serves (models/registry.json), at the input size it serves
(``@<size>`` in the version where that is not the card's): their detections on the
bundled sample photos, batch 1, one thread. tests/test_detector_reference.py compares every
later run against them.
"""

from __future__ import annotations

import json

from shared import registry
from shared.detector import Detector
from tests.paths import MODELS as MODELS_DIR
from tests.paths import ROOT, SAMPLES

REFERENCE_DIR = ROOT / "tests" / "reference"
# the pinned model, and the served one at its served size (which may add post-processing, e.g. contain_threshold)
_SERVED = registry.resolve(MODELS_DIR, None)[registry.DEFAULT_MODE]
MODELS = ((MODELS_DIR / "shelfwatch-v1-int8.onnx", None), (_SERVED.model, _SERVED.input_size))


def main() -> None:
    for model, size in dict.fromkeys(MODELS):
        det = Detector(model, threads=1, input_size=size)
        photos = {p.name: [d.to_dict() for d in det.detect(p.read_bytes())] for p in SAMPLES}
        out = REFERENCE_DIR / f"{det.version}.json"
        out.write_text(json.dumps({"model_version": det.version, "model_sha256": det.card.sha256,
                                   "photos": photos}, indent=1) + "\n")
        print(f"wrote {out}: " + ", ".join(f"{k} {len(v)}" for k, v in photos.items()))


if __name__ == "__main__":
    main()
