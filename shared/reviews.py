"""Reviews: a person corrects a job's detections; the corrections become training labels.

A review is the whole corrected set of boxes of one photo, saved as a new revision each
time (who, when, against which model version's result); the newest revision is the one
that counts. ``changes`` says what the person did to the model's boxes: a corrected box
that overlaps a detection at IoU >= KEPT_IOU kept it, one that overlaps less moved it,
the rest were added, and detections left unmatched were removed.

``export_dataset`` writes the newest revision of every job reviewed in a window as a YOLO
dataset (images/, labels/, data.yaml, manifest.json) that ``make train DATA=DIR`` takes.
"""

from __future__ import annotations

import json
import uuid
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.accuracy import iou_matrix
from shared.errors import Conflict, FieldProblem, Invalid, NotFound
from shared.keys import Principal
from shared.models import Detection, Job, JobStatus, Result, Review
from shared.storage import PhotoStore
from shared.views import get_job

MAX_BOXES = 2000
KEPT_IOU = 0.9  # a corrected box this close to a detection is the same box, untouched
MATCH_IOU = 0.1  # below this, a corrected box is a new one, not a moved detection
EDGE_SLACK_PX = 2.0  # boxes may overhang the photo by this much (rounding in a browser); clipped


def _result(session: Session, job: Job, model_version: str | None) -> Result | None:
    version = model_version or job.model_version
    return session.execute(select(Result).where(Result.job_id == job.id, Result.model_version == version)
                           ).scalar_one_or_none()


def check_boxes(boxes: list[dict], width: int, height: int, classes: list[str]) -> list[dict]:
    """The boxes clipped to the photo and rounded to 0.1 px; every problem listed at once."""
    problems: list[FieldProblem] = []
    if len(boxes) > MAX_BOXES:
        raise Invalid.one("boxes", "invalid_boxes", f"boxes: at most {MAX_BOXES} per photo")
    clean = []
    for i, b in enumerate(boxes):
        x1, y1, x2, y2 = (float(v) for v in b["box"])
        if b["class"] not in classes:
            problems.append(FieldProblem(f"boxes[{i}].class", "invalid_class",
                                         f"boxes[{i}].class: one of {', '.join(classes)}"))
        # any non-empty box: the model's own boxes go down to half a pixel (shared.detector), and a
        # person saving them back unchanged must not be refused
        if not all(np.isfinite([x1, y1, x2, y2])) or x2 <= x1 or y2 <= y1:
            problems.append(FieldProblem(f"boxes[{i}].box", "invalid_box",
                                         f"boxes[{i}].box: x1 < x2 and y1 < y2"))
            continue
        if x1 < -EDGE_SLACK_PX or y1 < -EDGE_SLACK_PX or x2 > width + EDGE_SLACK_PX or y2 > height + EDGE_SLACK_PX:
            problems.append(FieldProblem(f"boxes[{i}].box", "invalid_box",
                                         f"boxes[{i}].box: inside the {width}x{height} photo"))
            continue
        box = [round(min(max(v, 0.0), lim), 1) for v, lim in ((x1, width), (y1, height), (x2, width), (y2, height))]
        clean.append({"class": b["class"], "box": box})
    if problems:
        raise Invalid(problems)
    return clean


def changes(before: list[tuple[float, float, float, float]], after: list[list[float]]) -> dict[str, int]:
    """Kept, moved, added, removed: corrected boxes matched greedily to the model's by IoU."""
    if not before or not after:
        return {"kept": 0, "moved": 0, "added": len(after), "removed": len(before)}
    ious = iou_matrix(np.asarray(after, float), np.asarray(before, float))
    kept = moved = 0
    used_a, used_b = set(), set()
    for flat in np.argsort(-ious, axis=None):
        a, b = divmod(int(flat), ious.shape[1])
        if ious[a, b] < MATCH_IOU:
            break
        if a in used_a or b in used_b:
            continue
        used_a.add(a)
        used_b.add(b)
        kept, moved = (kept + 1, moved) if ious[a, b] >= KEPT_IOU else (kept, moved + 1)
    return {"kept": kept, "moved": moved, "added": len(after) - len(used_a), "removed": len(before) - len(used_b)}


def save_review(session: Session, who: Principal, job_id: str, boxes: list[dict], classes: list[str],
                model_version: str | None = None) -> Review:
    """A new revision of the job's corrected boxes (the job's row is locked: revisions never clash)."""
    job = get_job(session, who.tenant_id, job_id)
    session.refresh(job, with_for_update=True)
    if job.status != JobStatus.DONE:
        raise Conflict("job_not_done", f"job {job_id} is {job.status}: only a finished photo can be reviewed")
    result = _result(session, job, model_version)
    if result is None:
        raise NotFound("result_not_found", f"job {job_id} has no result of model version {model_version}")
    clean = check_boxes(boxes, job.width or 0, job.height or 0, classes)  # a done job has its size
    before = [(d.x1, d.y1, d.x2, d.y2) for d in session.execute(
        select(Detection).where(Detection.result_id == result.id)).scalars()]
    last = session.execute(select(func.max(Review.revision)).where(Review.job_id == job.id)).scalar() or 0
    review = Review(tenant_id=who.tenant_id, job_id=job.id, revision=last + 1, model_version=result.model_version,
                    boxes=clean, changes=changes(before, [b["box"] for b in clean]), reviewed_by=who.prefix)
    session.add(review)
    session.flush()
    return review


def latest_review(session: Session, tenant_id: str, job_id: str) -> Review:
    job = get_job(session, tenant_id, job_id)
    review = session.execute(select(Review).where(Review.job_id == job.id).order_by(Review.revision.desc())
                             .limit(1)).scalar_one_or_none()
    if review is None:
        raise NotFound("review_not_found", f"job {job_id} has not been reviewed")
    return review


def review_view(review: Review) -> dict:
    return {"job_id": str(review.job_id), "revision": review.revision, "model_version": review.model_version,
            "boxes": review.boxes, "changes": review.changes, "reviewed_by": review.reviewed_by,
            "reviewed_at": review.created_at.isoformat()}


# --- the labels export ---------------------------------------------------------------------

def newest_reviews(session: Session, since: datetime, until: datetime | None = None,
                   tenant_id: str | None = None) -> list[tuple[Review, Job]]:
    """The newest revision of every job whose newest revision was saved in [since, until)."""
    newest = (select(Review.job_id, func.max(Review.revision).label("rev")).group_by(Review.job_id).subquery())
    query = (select(Review, Job).join(newest, (newest.c.job_id == Review.job_id) & (newest.c.rev == Review.revision))
             .join(Job, Job.id == Review.job_id).where(Review.created_at >= since))
    if until is not None:
        query = query.where(Review.created_at < until)
    if tenant_id is not None:
        query = query.where(Review.tenant_id == tenant_id)
    return [(r, j) for r, j in session.execute(query.order_by(Review.created_at, Review.id)).all()]


def split_of(job_id: uuid.UUID, val_percent: int) -> str:
    """train or val, fixed per photo (a hash of its id), so re-exports never swap a photo's split."""
    return "val" if zlib.crc32(job_id.bytes) % 100 < val_percent else "train"


def yolo_lines(boxes: list[dict], width: int, height: int, classes: list[str]) -> list[str]:
    lines = []
    for b in boxes:
        x1, y1, x2, y2 = b["box"]
        lines.append(f"{classes.index(b['class'])} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                     f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return lines


def export_dataset(session: Session, store: PhotoStore, out: Path, since: datetime, until: datetime | None = None,
                   tenant_id: str | None = None, val_percent: int = 20, classes: tuple[str, ...] = ("product",)
                   ) -> dict:
    """Write the reviewed photos as a YOLO dataset under ``out``; returns the manifest.

    Photos keep their stored bytes (``images/<split>/<job>.<ext>``); labels are the
    reviewed boxes (``labels/<split>/<job>.txt``; an empty file is a photo a person says
    holds no product). Val gets every photo whose id hashes below ``val_percent``; with
    no photo in one split, the first photo is copied there too (Ultralytics needs both).
    """
    names = list(classes)
    for review, _ in (rows := newest_reviews(session, since, until, tenant_id)):
        names += [b["class"] for b in review.boxes if b["class"] not in names]
    entries: list[dict] = []
    boxes = 0
    for review, job in rows:
        split = split_of(job.id, val_percent)
        ext = job.photo_key.rsplit(".", 1)[-1]
        for sub in ("images", "labels"):
            (out / sub / split).mkdir(parents=True, exist_ok=True)
        (out / "images" / split / f"{job.id}.{ext}").write_bytes(store.get(job.photo_key))
        lines = yolo_lines(review.boxes, job.width or 0, job.height or 0, names)  # reviewed: done, sized
        (out / "labels" / split / f"{job.id}.txt").write_text("".join(line + "\n" for line in lines))
        boxes += len(lines)
        entries.append({"job_id": str(job.id), "tenant": review.tenant_id, "split": split, "boxes": len(lines),
                        "revision": review.revision, "model_version": review.model_version,
                        "reviewed_by": review.reviewed_by, "reviewed_at": review.created_at.isoformat(),
                        "changes": review.changes})
    for missing, other in (("val", "train"), ("train", "val")):  # Ultralytics needs both splits
        if entries and not any(e["split"] == missing for e in entries):
            first = entries[0]
            for sub, ext in (("images", next((out / "images" / other).glob(f"{first['job_id']}.*")).suffix),
                             ("labels", ".txt")):
                (out / sub / missing).mkdir(parents=True, exist_ok=True)
                src = out / sub / other / f"{first['job_id']}{ext}"
                (out / sub / missing / src.name).write_bytes(src.read_bytes())
            first[f"also_{missing}"] = True
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.yaml").write_text(f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
                                   f"nc: {len(names)}\nnames: {json.dumps(names)}\n")
    manifest = {"since": since.isoformat(), "until": until.isoformat() if until else None, "tenant": tenant_id,
                "classes": names, "photos": len(entries), "boxes": boxes,
                "val_photos": len([e for e in entries if e["split"] == "val" or e.get("also_val")]),
                "train_photos": len([e for e in entries if e["split"] == "train" or e.get("also_train")]),
                "items": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
