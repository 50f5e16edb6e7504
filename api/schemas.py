"""The request and response schemas of API v1, declared once (pydantic).

flask-openapi3 validates requests from these and writes them into the OpenAPI spec;
the tests validate every response they receive against that spec. Field constraints
come from the domain (``shared.audits``) so the schema and the domain agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from flask_openapi3 import FileStorage
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.audits import AISLE_MAX, IDEMPOTENCY_KEY_MAX, STORE_ID_PATTERN
from shared.keys import DEFAULT_SCOPES, SCOPES
from shared.models import AuditStatus
from shared.registry import MODES
from shared.views import MAX_PAGE

Scope = Literal["submit", "read", "admin"]

# A time in a request: with its UTC offset, within 2000-2100, and held in UTC from here on
# (Postgres takes offsets only up to ±15:59, Python up to ±23:59; years far out overflow).
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _in_window(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        value = EARLIEST - EARLIEST.resolution
    if not EARLIEST <= value < LATEST:
        raise ValueError("a time between 2000-01-01 and 2100-01-01")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_in_window)]

_RETRY_AFTER = {"description": "seconds until the next poll is worth making", "schema": {"type": "integer"}}
_LOCATION = {"description": "the audit's URL", "schema": {"type": "string", "format": "uri"}}


def _headers(**headers: dict) -> ConfigDict:
    """A response model whose response also carries these headers (declared in the spec)."""
    headers_out = {name.replace("_", "-"): h for name, h in headers.items()}
    return ConfigDict(openapi_extra={"headers": headers_out})  # type: ignore[typeddict-unknown-key]  # flask-openapi3 reads it


# --- errors ---------------------------------------------------------------------------------

class FieldError(BaseModel):
    field: str = Field(description="the request field, header or photo (photos[i]) at fault")
    code: str = Field(description="stable, machine-readable")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus a stable ``code`` and every field problem at once."""

    type: str = Field(description="a URI naming the kind of problem (its code)")
    title: str
    status: int
    detail: str
    code: str = Field(description="stable, machine-readable; see the README's error table")
    errors: list[FieldError] = Field(default_factory=list, description="every problem with the request's fields")


# --- audits ---------------------------------------------------------------------------------

class SubmitForm(BaseModel):
    """``multipart/form-data``: one audit of one store section, 1..N photos."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    photos: list[FileStorage] = Field(description="JPEG, PNG or WebP files, one per shelf photo")
    store_id: str = Field(pattern=STORE_ID_PATTERN, max_length=64, description="the store; part of the photo's key")
    aisle: str | None = Field(None, min_length=1, max_length=AISLE_MAX, description="the aisle or section")
    captured_at: Moment | None = Field(None, description="when the photos were taken (ISO 8601 with offset)")
    mode: Literal["fast", "accurate"] | None = Field(None, description="default accurate")




class UploadPhoto(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(max_length=64, description="image/jpeg, image/png or image/webp")
    size: int = Field(ge=0, description="the file's bytes, exactly")
    sha256: str = Field(max_length=64, description="the file's SHA-256, 64 lowercase hex digits")


class UploadBegin(BaseModel):
    """``application/json``: one audit of one store section whose photos go straight to S3."""

    model_config = ConfigDict(extra="forbid")

    store_id: str = Field(pattern=STORE_ID_PATTERN, max_length=64, description="the store; part of the photo's key")
    aisle: str | None = Field(None, min_length=1, max_length=AISLE_MAX, description="the aisle or section")
    captured_at: Moment | None = Field(None, description="when the photos were taken (ISO 8601 with offset)")
    mode: Literal["fast", "accurate"] | None = Field(None, description="default accurate")
    photos: list[UploadPhoto] = Field(description="each photo's type, size and SHA-256, in photo order")


class UploadTarget(BaseModel):
    job_id: str
    position: int = Field(description="the photo's place in the request's list")
    method: Literal["PUT"]
    url: str = Field(description="a presigned S3 URL: PUT the photo's bytes here, with exactly these headers")
    headers: dict[str, str] = Field(description="Content-Type and x-amz-checksum-sha256 (signed)")


class UploadStarted(BaseModel):
    model_config = _headers(Location=_LOCATION)

    audit_id: str
    url: str = Field(description="the audit: awaiting_upload until confirmed")
    confirm_url: str = Field(description="POST here once every photo is uploaded: the jobs are queued")
    expires_at: datetime = Field(description="when the URLs stop working (the same Idempotency-Key gives new ones)")
    uploads: list[UploadTarget] = Field(description="the photos still to upload (none: all were confirmed)")
    replayed: bool = Field(description="true: an earlier request with this Idempotency-Key began this audit")


class SubmitHeaders(BaseModel):
    idempotency_key: str | None = Field(None, alias="Idempotency-Key", min_length=1, max_length=IDEMPOTENCY_KEY_MAX,
                                        description="resending with the same key never makes a second audit")


class JobLink(BaseModel):
    id: str
    url: str


class AuditAccepted(BaseModel):
    model_config = _headers(Location=_LOCATION, Retry_After=_RETRY_AFTER)

    audit_id: str
    url: str = Field(description="poll this for the audit's status and counts")
    jobs: list[JobLink]
    job_ids: list[str] = Field(description="the jobs' ids in photo order (also in ``jobs``)")
    status_url: str = Field(description="the same as ``url`` (kept for older clients)")
    replayed: bool = Field(description="true: an earlier request with this Idempotency-Key made this audit")


class Photo(BaseModel):
    bytes: int
    width: int | None = Field(description="null until a direct upload is confirmed")
    height: int | None
    sha256: str


class JobTimings(BaseModel):
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    queue_wait_ms: float | None = Field(None, description="started_at - queued_at")
    worker_ms: dict[str, float] | None = Field(
        None, description="the worker's batch stages: claim, fetch (S3), detect_per_photo")


class Failure(BaseModel):
    code: str | None
    reason: str | None


class BatchInfo(BaseModel):
    id: str
    size: int


class DetectionOut(BaseModel):
    class_: str = Field(alias="class")
    confidence: float
    box: list[float] = Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in the photo's pixels")
    row: int | None = Field(None, description="its shelf row, 0 = top")
    group: int | None = Field(None, description="its product group in the photo (facings that look alike)")


class RowOut(BaseModel):
    index: int
    box: list[float] = Field(min_length=4, max_length=4)
    facings: int
    groups: int
    gaps: int


class GroupOut(BaseModel):
    id: int
    row: int
    facings: int
    share_of_shelf: float = Field(description="its share of the occupied shelf width in the photo")
    box: list[float] = Field(min_length=4, max_length=4, description="a representative facing")
    appearance: str | None = Field(None, description="its look: the facings' mean HSV histogram (8x4x4 bins) "
                                                     "as 128 bytes in base64; planogram products match on it")


class GapOut(BaseModel):
    row: int
    box: list[float] = Field(min_length=4, max_length=4)
    missing: int = Field(description="facings that would fill it, at the row's median width")
    confidence: float


class Analytics(BaseModel):
    """Shelf rows, product groups and out-of-stock gaps, from the same model version as the counts."""

    rows: list[RowOut]
    groups: list[GroupOut]
    gaps: list[GapOut]
    facings: int
    missing_facings: int


class AnalyticsSummary(BaseModel):
    rows: int
    groups: int
    gaps: int
    missing_facings: int


class JobOut(BaseModel):
    model_config = _headers(Retry_After=_RETRY_AFTER | {"description": "while the job is queued or running"})

    id: str
    audit_id: str
    status: Literal["awaiting_upload", "queued", "running", "done", "failed"]
    mode: str
    photo: Photo
    model_version: str | None
    timings: JobTimings
    attempts: int
    failure: Failure | None = None
    counts: dict[str, int] | None = None
    detection_count: int | None = None
    batch: BatchInfo | None = None
    detections: list[DetectionOut] | None = Field(None, description="only on GET /v1/jobs/{id}")
    analytics: Analytics | None = Field(None, description="only on GET /v1/jobs/{id}")
    analytics_summary: AnalyticsSummary | None = Field(None, description="in an audit's job list")
    store_id: str | None = Field(None, description="in the recent-jobs list")
    aisle: str | None = Field(None, description="in the recent-jobs list")


AuditStatusName = Literal["awaiting_upload", "queued", "running", "done", "partial", "failed"]


class AuditSummary(BaseModel):
    id: str
    store_id: str
    aisle: str | None
    status: AuditStatusName
    captured_at: datetime | None
    created_at: datetime | None
    finished_at: datetime | None
    facings: int | None = Field(description="summed over the photos, once finished")
    stock_status: Literal["ok", "low", "critical", "unknown"] | None = Field(
        description="against its section's levels (the store's section for this aisle); null without one")
    compliance: Compliance | None = Field(description="against its section's planogram; null without one")


class Progress(BaseModel):
    total: int
    done: int
    failed: int
    pending: int


class AuditOut(AuditSummary):
    model_config = _headers(Retry_After=_RETRY_AFTER | {"description": "while the audit is queued or running"})

    counts: dict[str, int]
    progress: Progress
    jobs: list[JobOut]


class AuditPath(BaseModel):
    audit_id: str


class JobPath(BaseModel):
    job_id: str


class AuditQuery(BaseModel):
    store_id: str | None = Field(None, max_length=64)
    status: AuditStatusName | None = None
    since: Moment | None = Field(None, description="created at or after")
    until: Moment | None = Field(None, description="created before")
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page")


class AuditList(BaseModel):
    items: list[AuditSummary]
    next_cursor: str | None = Field(description="null on the last page")


class JobList(BaseModel):
    items: list[JobOut]


# --- keys -----------------------------------------------------------------------------------

class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] = Field(default_factory=lambda: list(DEFAULT_SCOPES), min_length=1)  # type: ignore[arg-type]
    expires_in_days: float | None = Field(None, gt=0, le=3650)
    name: str | None = Field(None, min_length=1, max_length=64)


class KeyOut(BaseModel):
    prefix: str
    tenant: str
    name: str | None
    scopes: list[Scope]
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="the secret key: shown only in this response")


class KeyList(BaseModel):
    items: list[KeyOut]


class KeyPath(BaseModel):
    prefix: str = Field(max_length=16)


# --- webhooks and events ----------------------------------------------------------------------

EventType = Literal["audit.completed", "audit.failed", "stock.low", "rescan.completed", "*"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="https (http only outside production); a public address")
    events: list[EventType] = Field(min_length=1, description="event types to receive; * for all")
    description: str | None = Field(None, max_length=200)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    events: list[EventType] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = Field(None, description="false pauses deliveries; true resumes")


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    previous_secret_until: datetime | None = Field(description="the old secret signs too until then")


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="the signing secret: shown only in this response")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookPath(BaseModel):
    webhook_id: str


class Attempt(BaseModel):
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response: str | None = Field(description="the first KB of the receiver's answer")


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    endpoint_id: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    log: list[Attempt]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryQuery(BaseModel):
    status: Literal["pending", "delivered", "dead"] | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=200)


class EventOut(BaseModel):
    id: str
    type: str
    created_at: datetime
    tenant: str
    data: dict


class EventList(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class EventQuery(BaseModel):
    type: Literal["audit.completed", "audit.failed", "stock.low", "rescan.completed", "ping"] | None = None
    since: Moment | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=200)


class EventPath(BaseModel):
    event_id: str


class Queued(BaseModel):
    event_id: str
    deliveries: list[str]


# --- re-scans -------------------------------------------------------------------------------

class JobQuery(BaseModel):
    model_version: str | None = Field(None, max_length=64, description="another version's result (a re-scan's)")


class RescanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: str | None = Field(None, max_length=64)
    since: Moment | None = Field(None, description="audits created at or after")
    until: Moment | None = Field(None, description="audits created before")
    model_version: str | None = Field(None, max_length=64, description="a registry version; default: the serving "
                                                                       "accurate one")
    dry_run: bool = Field(False, description="only count: create nothing, enqueue nothing")


class RescanScope(BaseModel):
    tenant: str | None
    store_id: str | None
    since: datetime | None
    until: datetime | None


class RescanOut(BaseModel):
    id: str
    state: Literal["running", "paused", "cancelled", "completed"]
    model_version: str
    scope: RescanScope
    total: int
    skipped: int = Field(description="photos that already had a result of this version")
    done: int
    failed: int
    remaining: int
    in_flight: int
    rate_per_s: float
    eta_s: float | None
    created_at: datetime
    finished_at: datetime | None


class RescanPlan(BaseModel):
    dry_run: Literal[True]
    model_version: str
    total: int
    skipped: int
    to_scan: int


class RescanList(BaseModel):
    items: list[RescanOut]


class RescanPath(BaseModel):
    rescan_id: str


class RescanAction(BaseModel):
    rescan_id: str
    action: Literal["pause", "resume", "cancel"]


class DiffRow(BaseModel):
    store_id: str
    class_: str = Field(alias="class")
    old: int
    new: int
    change: int
    change_pct: float | None
    photos: int


class DiffPhoto(BaseModel):
    job_id: str
    store_id: str
    old: int
    new: int
    change: int


class DiffTotals(BaseModel):
    old: int
    new: int
    change: int
    change_pct: float | None


class RescanDiff(BaseModel):
    rescan_id: str
    model_version: str
    photos: int
    totals: DiffTotals
    by_store_and_class: list[DiffRow]
    most_changed: list[DiffPhoto]


# --- stores and sections ----------------------------------------------------------------------

class StoreCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STORE_ID_PATTERN, max_length=64, description="the store_id its audits carry")
    name: str | None = Field(None, max_length=200)


class StoreOut(BaseModel):
    id: str
    name: str | None
    created_at: datetime


class StoreList(BaseModel):
    items: list[StoreOut]


class StorePath(BaseModel):
    store_id: str = Field(max_length=64)


class RowLevels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    critical: int | None = Field(None, ge=0, description="facings in this row below which the section is critical")
    target: int | None = Field(None, ge=0, description="facings in this row below which it is low")


_ROWS = ("levels per shelf row from the top (null: none for that row); the section's status is the worst of "
         "its total's and its rows'")


class SectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aisle: str = Field(min_length=1, max_length=AISLE_MAX, description="audits of this store and aisle belong here")
    name: str | None = Field(None, max_length=200)
    critical: int | None = Field(None, ge=0, description="facings below which the section is critical")
    target: int | None = Field(None, ge=0, description="facings below which it is low")
    rows: list[RowLevels | None] | None = Field(None, max_length=50, description=_ROWS)


class SectionLevels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    critical: int | None = Field(None, ge=0)
    target: int | None = Field(None, ge=0)
    rows: list[RowLevels | None] | None = Field(None, max_length=50,
                                                description=_ROWS + "; given, it replaces them all ([] or null: none)")


class PlanogramReference(BaseModel):
    """One facing of the product, boxed on a photo this tenant audited."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(description="the job whose photo shows the product")
    box: list[float] = Field(min_length=4, max_length=4,
                             description="[x1, y1, x2, y2] of one facing, in the photo's pixels")


class PlanogramProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="the product's name (a SKU, a label)")
    facings: int = Field(ge=1, le=1000, description="facings of it expected in this row")
    reference: PlanogramReference = Field(description="a photo crop the audits' product groups are matched "
                                                      "against by appearance")


class PlanogramRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    facings: int = Field(ge=0, le=1000, description="facings expected in this row")
    products: list[PlanogramProduct] | None = Field(None, max_length=50,
                                                    description="named products expected in this row")


class Planogram(BaseModel):
    """A section's expected layout: its shelf rows from the top."""

    model_config = ConfigDict(extra="forbid")

    rows: list[PlanogramRow] = Field(min_length=1, max_length=50)
    gaps_allowed: bool = Field(False, description="false: every gap found is a deviation")


class Deviation(BaseModel):
    kind: Literal["missing_facings", "extra_facings", "missing_row", "unexpected_row", "unexpected_gap",
                  "wrong_row"]
    row: int
    product: str | None = Field(None, description="the named product, for its own deviations")
    expected_row: int | None = Field(None, description="where a product found in the wrong row belongs")
    expected: int | None = None
    found: int | None = None
    photo: int | None = None
    box: list[float] | None = None
    missing: int | None = None


class Compliance(BaseModel):
    score: float = Field(ge=0, le=1, description="1 - facings off / facings expected")
    deviations: list[Deviation]


class SectionOut(BaseModel):
    id: str
    store_id: str
    aisle: str
    name: str | None
    critical: int | None
    target: int | None
    rows: list[RowLevels | None] | None = Field(description="levels per shelf row from the top, where set")
    status: Literal["ok", "low", "critical", "unknown"]
    status_at: datetime | None
    planogram: Planogram | None


class SectionList(BaseModel):
    items: list[SectionOut]


class SectionPath(BaseModel):
    store_id: str = Field(max_length=64)
    section_id: str


class StockQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    since: Moment | None = Field(None, description="audits finished at or after")
    until: Moment | None = Field(None, description="audits finished before")
    from_: Moment | None = Field(None, alias="from", description="the same as `since`")
    to: Moment | None = Field(None, description="the same as `until`")
    aisle: str | None = Field(None, max_length=AISLE_MAX, description="one section's aisle")
    section: str | None = Field(None, max_length=64, description="one section, by its id (instead of `aisle`)")


class StockPoint(BaseModel):
    audit_id: str
    at: datetime | None
    aisle: str | None
    facings: int | None
    row_facings: list[int] | None = Field(description="facings per shelf row from the top")
    missing_facings: int | None = Field(description="facings missing in the audit's gaps")
    stock_status: Literal["ok", "low", "critical", "unknown"] | None
    compliance: float | None = Field(description="the planogram compliance score, where there is a planogram")


class StockHistory(BaseModel):
    items: list[StockPoint] = Field(description="one point per finished audit, oldest first (at most 500)")


class ActivityQuery(BaseModel):
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=200)


class ActivityItem(BaseModel):
    id: str
    kind: Literal["audit_done", "alert_raised", "alert_cleared", "levels_changed"]
    at: datetime
    detail: dict


class ActivityList(BaseModel):
    items: list[ActivityItem]
    next_cursor: str | None


# --- health ---------------------------------------------------------------------------------

class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] | None = Field(None, description="each dependency's state; with METRICS_TOKEN set, "
                                                              "only for a request that sends it")



def _same(literal: object, values: tuple[str, ...]) -> None:
    """The Literals above restate domain tuples (a Literal needs constants): keep them in step."""
    if set(get_args(literal)) != set(values):
        raise RuntimeError(f"{literal} differs from {values}: update api/schemas.py")


_same(Scope, SCOPES)
_same(AuditStatusName, AuditStatus.ALL)
_same(Literal["fast", "accurate"], MODES)


# --- recent jobs, photos, reviews, models ------------------------------------------------------

class RecentJobsQuery(BaseModel):
    status: Literal["awaiting_upload", "queued", "running", "done", "failed"] | None = None
    store_id: str | None = Field(None, max_length=64)
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page")


class RecentJobList(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="null on the last page")


class PhotoQuery(BaseModel):
    max_side: int | None = Field(None, ge=32, le=4096, description="a JPEG at most this many px on its long side "
                                                                  "(a thumbnail); default: the stored photo as sent")


class ReviewBox(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: str = Field("product", alias="class", min_length=1, max_length=64)
    box: list[float] = Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in the photo's pixels")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    boxes: list[ReviewBox] = Field(max_length=2000, description="every product on the photo, as the person sees "
                                                                "it (an empty list: none)")
    model_version: str | None = Field(None, max_length=64, description="the result corrected; default: the served "
                                                                       "one")


class ReviewChanges(BaseModel):
    kept: int
    moved: int
    added: int
    removed: int


class ReviewOut(BaseModel):
    job_id: str
    revision: int = Field(description="1 for the first save, then +1 per save")
    model_version: str | None
    boxes: list[ReviewBox]
    changes: ReviewChanges = Field(description="what the person did to the model's boxes")
    reviewed_by: str = Field(description="the prefix of the key that saved it")
    reviewed_at: datetime


class ModelMetrics(BaseModel):
    map50: float | None = None
    precision: float | None = None
    recall: float | None = None
    count_error: float | None = None
    photos: int | None = None


class ModelVersion(BaseModel):
    version: str
    serving: list[str] = Field(description="the modes it serves now")
    created_at: str | None
    precision: str | None = Field(None, description="int8 or fp32")
    classes: list[str]
    input_size: int | None
    conf_threshold: float | None = Field(description="the confidence threshold served at its own input size")
    conf_thresholds: dict[str, float] | None = Field(
        None, description="the threshold served at each input size it was calibrated at, chosen on labelled real "
                          "photos it was not taught on (docs/model.md); other sizes serve conf_threshold")
    size_bytes: int | None
    latency_ms_1thread: float | None
    metrics: ModelMetrics | None = Field(None, description="its card's figures on the synthetic validation set")


class CanaryOut(BaseModel):
    version: str
    fraction: float = Field(description="the share of the mode's new jobs it takes (fixed per job id)")


class ModeOut(BaseModel):
    version: str
    input_size: int | None
    conf_threshold: float | None = Field(None, description="the confidence threshold the mode serves at its size")
    canary: CanaryOut | None = Field(None, description="a candidate taking a share of the jobs (`shelfwatch models "
                                                       "canary`)")


class ModelList(BaseModel):
    modes: dict[str, ModeOut]
    items: list[ModelVersion]
