"""Model versions in object storage: the registry, each version's ONNX file and card.

Layout in ``MODELS_BUCKET`` (default: the photo bucket) under ``models/``: the registry
(``registry.json``: which version serves each mode, the candidates, and every version's
file and SHA-256) and each version's ``<stem>.onnx`` and card ``<stem>.json``. The local
stack uploads the committed ``models/`` at bring-up (``publish``); a promotion writes the
registry there.

A worker holds a ``ModelStore``: it re-reads the registry at most every
``MODEL_REGISTRY_TTL_S`` (so a promotion serves new audits within that bound, with no
restart), downloads a version on first use into ``MODEL_CACHE_DIR``, checks its SHA-256
against the registry before loading it (a corrupt or swapped file is refused with
``ModelInvalid``), and keeps the last ``MODEL_CACHE_SIZE`` sessions (an LRU). Without a
registry in the bucket it falls back to the local ``MODELS_DIR`` (the image's baked
models).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

from botocore.exceptions import ClientError

from shared import registry, tuning
from shared.detector import Detector, available_providers, boxes_of
from shared.errors import DomainError
from shared.settings import Settings
from shared.storage import PhotoStore

PREFIX = "models/"
log = logging.getLogger("shelfwatch.models")


class ModelInvalid(DomainError):
    """A model version that is not registered, or whose file does not match its SHA-256."""


class ModelStore:
    def __init__(self, settings: Settings, store: PhotoStore | None = None):
        self.settings = settings
        self.store = store or PhotoStore(settings, bucket=settings.models_bucket or settings.s3_bucket)
        self.cache_dir = Path(settings.model_cache_dir)
        self._registry: dict | None = None
        self._read_at = -1e9
        self._sessions: OrderedDict[tuple[str, int | None, str], Detector] = OrderedDict()
        self._forms: dict[tuple[str, int | None], str] = {}  # registered version → the form run here
        self._lock = threading.Lock()

    # --- the registry -------------------------------------------------------------------
    def registry(self) -> dict:
        """The registry, re-read at most every MODEL_REGISTRY_TTL_S."""
        now = time.monotonic()
        if self._registry is None or now - self._read_at >= self.settings.model_registry_ttl_s:
            self._registry = self._read_registry()
            self._read_at = now
        return self._registry

    def _read_registry(self) -> dict:
        try:
            return json.loads(self.store.get(PREFIX + "registry.json"))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "NoSuchBucket"):
                raise
            return registry.load(self.settings.models_dir)  # no registry in the bucket: the baked models

    def write_registry(self, reg: dict) -> None:
        self.store.put(PREFIX + "registry.json", json.dumps(reg, indent=2).encode(), "application/json")
        self._registry = None

    def serving(self, mode: str) -> tuple[str, int | None]:
        """(version, input size) that serves ``mode`` now."""
        spec = self.registry()["modes"][mode]
        return Path(spec["model"]).stem, spec.get("input_size")

    def versions(self) -> dict[str, dict]:
        return self.registry().get("versions", {})

    # --- sessions -----------------------------------------------------------------------
    def detector(self, version: str, input_size: int | None = None, provider: str = "cpu") -> Detector:
        """A session for ``version`` on ``provider`` (downloaded and checked on first use; LRU-cached)."""
        key = (version, input_size, provider)
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
        path = self._fetch(version)
        det = Detector(path, threads=self.settings.ort_threads, input_size=input_size, provider=provider)
        with self._lock:
            self._sessions[key] = det
            while len(self._sessions) > self.settings.model_cache_size:
                self._sessions.popitem(last=False)
        return det

    def for_mode(self, mode: str) -> Detector:
        """The detector serving ``mode``: the registry's version, or its faster twin on this CPU (MODEL_TUNE)."""
        version, size = self.serving(mode)
        form, provider = tuning.parse_form(self.form(version, size))
        return self.detector(form, size, provider)

    def form(self, version: str, input_size: int | None = None) -> str:
        """``version``, or its INT8/FP32 twin, on the CPU provider or another this ONNX Runtime
        offers, whichever is measurably faster here (``shared.tuning``; ``version+provider``)."""
        if not self.settings.model_tune:
            return version
        key = (version, input_size)
        if key not in self._forms:
            other = tuning.twin(version)
            versions = [version] + ([other] if other is not None and self._fetchable(other) else [])
            providers = available_providers()
            if len(versions) == 1 and providers == ["cpu"]:
                return version
            dets = {tuning.form_name(v, p): self.detector(v, input_size, p) for v in versions for p in providers}
            calls = {name: (lambda d=d: d.predict(tuning.blank_input(d.size, d.stride is not None)))
                     for name, d in dets.items()}

            @functools.cache
            def photos() -> list[bytes]:  # read only when another provider is checked, once
                return [p.read_bytes() for p in sorted(Path(self.settings.tune_photos_dir).glob("*.jpg"))[:4]]

            def agreement(ref: Detector, d: Detector) -> float:  # no check photos: no other provider is trusted
                return min((tuning.box_f1(boxes_of(ref.detect(p)), boxes_of(d.detect(p))) for p in photos()),
                           default=0.0)

            checks = {tuning.form_name(v, p): (lambda v=v, p=p: agreement(dets[v], dets[tuning.form_name(v, p)]))
                      for v in versions for p in providers if p != "cpu"}
            self._forms[key] = tuning.choose(self.cache_dir / "tuning.json", version, dets[version].size,
                                             self.settings.ort_threads, calls, checks)
        return self._forms[key]

    def canary(self, mode: str) -> tuple[Detector, float] | None:
        """The candidate taking a fraction of ``mode``'s new jobs, and that fraction; None without one."""
        spec = self.registry()["modes"][mode].get("canary")
        if not spec or not spec.get("fraction"):
            return None
        return self.detector(Path(spec["model"]).stem, spec.get("input_size")), float(spec["fraction"])

    def _fetchable(self, version: str) -> bool:
        """Whether a registered ``version`` can be fetched and checked here. A twin the registry
        lists but neither the bucket nor MODELS_DIR holds (an image built without the FP32
        files) is left out of the tuning, with a log line, instead of failing the mode."""
        if version not in self.versions():
            return False
        try:
            self._fetch(version)
        except ModelInvalid as exc:
            log.warning("model twin left out of the tuning", extra={"version": version, "reason": exc.code})
            return False
        return True

    def _fetch(self, version: str) -> Path:
        entry = self.versions().get(version)
        if entry is None:
            raise ModelInvalid("model_unknown", f"model version {version} is not in the registry")
        path = self.cache_dir / entry["file"]
        if path.exists() and _sha256(path.read_bytes()) == entry["sha256"]:
            return path
        local = Path(self.settings.models_dir) / entry["file"]
        data = self._download(entry["file"]) or (local.read_bytes() if local.exists() else None)
        if data is None:
            raise ModelInvalid("model_missing", f"model version {version}: {entry['file']} is in neither the "
                                                "bucket nor MODELS_DIR")
        if _sha256(data) != entry["sha256"]:
            raise ModelInvalid("model_invalid", f"model version {version}: {entry['file']} does not match the "
                                                "registry's SHA-256; refused")
        card = self._download(entry["file"].removesuffix(".onnx") + ".json")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        if card is not None:
            path.with_suffix(".json").write_bytes(card)
        elif "card" in entry:
            path.with_suffix(".json").write_text(json.dumps(entry["card"]))
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # whole or not at all: another process may load it now
        return path

    def _download(self, name: str) -> bytes | None:
        try:
            return self.store.get(PREFIX + name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    # --- publishing ---------------------------------------------------------------------
    def publish(self, models_dir: Path, overwrite_registry: bool = False) -> list[str]:
        """Upload the local models and cards (and the registry, if the bucket has none)."""
        sent = []
        for onnx in sorted(Path(models_dir).glob("*.onnx")):
            for f in (onnx, onnx.with_suffix(".json")):
                if f.exists():
                    self.store.put(PREFIX + f.name, f.read_bytes(), "application/octet-stream")
                    sent.append(f.name)
        validation = Path(models_dir) / "validation"  # the accuracy watch's labelled photos
        for f in sorted(validation.rglob("*")) if validation.is_dir() else []:
            if f.is_file():
                self.store.put(f"{PREFIX}validation/{f.relative_to(validation).as_posix()}", f.read_bytes(),
                               "application/octet-stream")
                sent.append(f"validation/{f.relative_to(validation).as_posix()}")
        if overwrite_registry or self._download("registry.json") is None:
            self.write_registry(registry.load(models_dir))
            sent.append("registry.json")
        return sent


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
