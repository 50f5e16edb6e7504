"""Model health: drift of what the model sees and says, and its accuracy on a fixed set.

* **Drift** (``compute_drift``): per tenant and store, the facings per photo and the mean
  confidence per photo of the served results in the recent window (``DRIFT_RECENT_H``)
  against the reference window before it (``DRIFT_REFERENCE_H``), as a Population Stability
  Index (``psi``): under 0.1 stable, 0.1-0.25 moving, above 0.25 a shift worth a look (a
  new shelf layout, a camera, or a model that counts differently).
* **Accuracy** (``accuracy_watch``): the version serving each mode on the labelled
  validation set in the bucket (``models/validation/``, uploaded with the models), mAP50
  through the serving detector. A bad promotion shows within one period.

Both are stored in ``model_health`` by scheduled tasks and exported by the gateway as
``shelfwatch_drift_psi`` and ``shelfwatch_accuracy_map50``.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from shared import accuracy
from shared.models import Audit, Detection, Job, ModelHealth, Result

SIGNALS = ("facings_per_photo", "mean_confidence")


def psi(reference: np.ndarray | list[float], recent: np.ndarray | list[float], bins: int = 10,
        eps: float = 1e-4) -> float:
    """Population Stability Index of ``recent`` against ``reference``.

    Bins are the reference's quantiles (so each holds about the same share of it), open at
    both ends; empty bins get ``eps`` so the log stays finite.
    """
    ref, new = np.asarray(reference, float), np.asarray(recent, float)
    if len(ref) == 0 or len(new) == 0:
        return 0.0
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    q = np.bincount(np.searchsorted(edges, new, side="right"), minlength=len(edges) + 1) / len(new)
    p, q = np.maximum(p, eps), np.maximum(q, eps)
    return float(np.sum((q - p) * np.log(q / p)))


def _per_photo(session: Session, since: datetime, until: datetime) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(facings, mean confidence) of each served result finished in [since, until), per tenant and store."""
    mean_conf = (select(Detection.result_id, func.avg(Detection.confidence).label("conf"))
                 .group_by(Detection.result_id).subquery())
    rows = session.execute(
        select(Job.tenant_id, Audit.store_id, Result.detection_count, mean_conf.c.conf)
        .join(Audit, Audit.id == Job.audit_id)
        .join(Result, and_(Result.job_id == Job.id, Result.model_version == Job.model_version))
        .outerjoin(mean_conf, mean_conf.c.result_id == Result.id)
        .where(Job.finished_at >= since, Job.finished_at < until)).all()
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for tenant, store, count, conf in rows:
        out.setdefault((tenant, store), []).append((count, float(conf or 0.0)))
    return out


def compute_drift(session: Session, recent_h: float = 24, reference_h: float = 168, min_photos: int = 20,
                  now: datetime | None = None) -> list[dict]:
    """PSI per tenant, store and signal, where both windows hold ``min_photos`` photos."""
    now = now or datetime.now(UTC)
    split = now - timedelta(hours=recent_h)
    recent = _per_photo(session, split, now)
    reference = _per_photo(session, split - timedelta(hours=reference_h), split)
    out = []
    for key in sorted(set(recent) & set(reference)):
        new, ref = recent[key], reference[key]
        if len(new) < min_photos or len(ref) < min_photos:
            continue
        for i, signal in enumerate(SIGNALS):
            out.append({"signal": signal, "tenant_id": key[0], "store_id": key[1],
                        "value": round(psi([r[i] for r in ref], [n[i] for n in new]), 4), "samples": len(new)})
    return out


def accuracy_watch(models, store) -> list[dict]:
    """mAP50 of the version serving each mode on the bucket's validation set."""
    from shared.model_store import PREFIX

    with tempfile.TemporaryDirectory(prefix="validation-") as tmp:
        root = Path(tmp)
        keys = store.keys(PREFIX + "validation/")
        for key in keys:
            dest = root / key.removeprefix(PREFIX + "validation/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(store.get(key))
        images = sorted((root / "images").glob("*.jpg"))
        if not images:
            return []
        out = []
        for mode in ("accurate", "fast"):
            version, size = models.serving(mode)
            path = models._fetch(version)  # SHA-256 checked, as for serving
            pred = accuracy.predict_set(path, images, root / "labels", input_size=size)
            out.append({"signal": "map50", "mode": mode, "version": f"{version}" + (f"@{size}" if size else ""),
                        "value": accuracy.metrics(pred)["map50"], "samples": len(images)})
        return out


def save(session: Session, rows: list[dict]) -> None:
    now = datetime.now(UTC)
    for row in rows:
        values = {"tenant_id": "", "store_id": "", "mode": "", "version": "", **row, "computed_at": now}
        session.execute(pg_insert(ModelHealth).values(**values).on_conflict_do_update(
            index_elements=["signal", "tenant_id", "store_id", "mode"],
            set_={"value": values["value"], "samples": values["samples"], "version": values["version"],
                  "computed_at": now}))


def latest(session: Session) -> list[ModelHealth]:
    return list(session.execute(select(ModelHealth)).scalars())
