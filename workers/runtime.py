"""What one worker process holds for its whole life, built once after the fork.

Every worker process builds its own detectors (ONNX Runtime sessions with explicit
thread counts), database engine and S3 client from the one ``Settings`` object the
Celery app was made from, and reuses them for every batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from shared import registry
from shared.db import make_engine, make_sessionmaker
from shared.detector import Detector
from shared.model_store import ModelStore
from shared.settings import Settings
from shared.storage import PhotoStore


@dataclass
class Runtime:
    settings: Settings
    factory: sessionmaker[Session]
    store: PhotoStore
    models: ModelStore  # the registry in object storage; any registered version on demand
    pinned: dict[str, Detector] | None  # MODEL_PATH: one file serves every mode, the registry is not read

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url, pool_size=2)
        store = PhotoStore(settings)
        pinned = None
        if settings.model_path:
            det = Detector(Path(settings.model_path), threads=settings.ort_threads)
            pinned = dict.fromkeys(registry.MODES, det)
        runtime = cls(settings, make_sessionmaker(engine), store, ModelStore(settings), pinned)
        runtime.detectors()  # load the serving models now, not during the first batch
        return runtime

    def detectors(self) -> dict[str, Detector]:
        """The detector serving each mode now (the registry is re-read at most every MODEL_REGISTRY_TTL_S)."""
        if self.pinned is not None:
            return self.pinned
        return {mode: self.models.for_mode(mode) for mode in registry.MODES}

    def canaries(self) -> dict[str, tuple[Detector, float]]:
        """Each mode's canary model and the fraction of its jobs it takes (none when pinned)."""
        if self.pinned is not None:
            return {}
        found = {mode: self.models.canary(mode) for mode in registry.MODES}
        return {mode: c for mode, c in found.items() if c is not None}


class RuntimeHolder:
    """The process's runtime, built on first use (after the fork) from the app's settings.

    A webhook worker needs only the database: ``factory()`` builds that alone, so a
    process that never runs a batch never loads a model.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._runtime: Runtime | None = None
        self._factory: sessionmaker[Session] | None = None

    def get(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime.build(self.settings)
        return self._runtime

    def factory(self) -> sessionmaker[Session]:
        if self._runtime is not None:
            return self._runtime.factory
        if self._factory is None:
            self._factory = make_sessionmaker(make_engine(self.settings.database_url, pool_size=4))
        return self._factory
