"""The one configuration object for every role (gateway, worker, CLI, tests).

Values come from the environment, then from the env file written by
``shelfwatch-dev services up`` (``.shelfwatch/local.env`` by default), then the defaults
below. Nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Relative paths are relative to the working directory: the repository root for `make`,
# /app in the image (which sets MODELS_DIR explicitly). Nothing is found relative to a
# source file, so an installed package behaves like a checkout.
LOCAL_ENV_FILE = Path(".shelfwatch") / "local.env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=LOCAL_ENV_FILE, extra="ignore", protected_namespaces=())

    env: str = Field("development", description="development | test | production")

    # --- the real parts -------------------------------------------------------------
    database_url: str = Field("", description="SQLAlchemy URL of Postgres; empty: found or started locally")
    redis_url: str = Field("", description="Redis URL; the broker unless BROKER_URL is set")
    broker_url: str = Field("", description="Celery broker URL (redis://… or sqs://); default REDIS_URL")
    sqs_queue_url_prefix: str = Field("", description="SQS broker only: queue URL before the queue name, "
                                      "e.g. https://sqs.REGION.amazonaws.com/ACCOUNT/shelfwatch-prod-")
    sqs_tls: bool = Field(True, description="SQS broker only: talk TLS to the endpoint; false for a local "
                          "SQS-API server given in BROKER_URL (sqs://KEY:SECRET@host:port)")
    s3_endpoint_url: str = Field("", description="S3 API endpoint; empty means AWS itself")
    s3_bucket: str = Field("shelfwatch-photos", description="bucket for photos")
    s3_region: str = Field("us-east-1", description="AWS region of the bucket")
    s3_public_endpoint_url: str = Field("", description="S3 endpoint named in presigned upload URLs, where "
                                        "phones reach it at another address than the workers; empty: S3_ENDPOINT_URL")
    api_threads: int = Field(8, ge=1, le=256, description="threads per gateway process (`shelfwatch api "
                             "--threads` sets it); its database pool keeps as many connections")
    key_cache_s: float = Field(5.0, ge=0, le=300, description="the gateway remembers a key that authenticated "
                               "for this long (0: looks every request up); a revocation made elsewhere than "
                               "this process's API takes effect within it")
    upload_url_ttl_s: int = Field(900, ge=60, le=7 * 24 * 3600,
                                  description="how long a presigned upload URL (POST /v1/uploads) stays valid")
    upload_expiry_s: int = Field(24 * 3600, ge=300, description="an audit whose photos were not all uploaded "
                                 "and confirmed this long after it began fails (upload_expired)")
    aws_access_key_id: str = Field("", description="S3 credentials; empty: boto3's default chain (IAM role…)")
    aws_secret_access_key: str = Field("", description="S3 credentials; empty: boto3's default chain")
    s3_max_pool: int = Field(16, description="concurrent S3 connections per process")

    # --- the gateway ----------------------------------------------------------------
    max_photo_bytes: int = Field(20 * 1024 * 1024, description="largest accepted photo file")
    max_photo_pixels: int = Field(50_000_000, description="largest accepted width × height")
    max_photos_per_audit: int = Field(50, description="photos in one POST /v1/audits")
    max_request_bytes: int = Field(100 * 1024 * 1024, description="one POST /v1/audits in all (its photos are "
                                   "spooled to disk and read one at a time, so a gateway holds about one photo)")

    # --- the workers ----------------------------------------------------------------
    models_dir: Path = Field(Path("models"), description="model files, their cards and registry.json")
    model_path: Path | None = Field(None, description="pin one model for every mode (else registry.json)")
    batch_size: int = Field(8, ge=1, description="most jobs one worker process takes at once")
    batch_wait_ms: int = Field(25, ge=1, description="how long a partial batch waits for more jobs")
    rescan_batch_size: int = Field(16, ge=1, description="BATCH_SIZE of the re-scan queue: bulk work, "
                                   "throughput over latency")
    rescan_batch_wait_ms: int = Field(200, ge=1, description="BATCH_WAIT_MS of the re-scan queue")
    batch_pacing: bool = Field(True, description="hand a batch over only to a free worker process, so a busy "
                               "worker takes full batches (off: celery-batches' timer alone)")
    ort_threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads per worker process")
    worker_concurrency: int = Field(2, ge=1, description="worker processes per `shelfwatch worker`")
    visibility_timeout_s: int = Field(3600, description="Redis redelivers a job unacknowledged this long")
    task_time_limit_s: int = Field(600, description="hard limit for one batch")
    heartbeat_interval_s: float = Field(5.0, gt=0, description="how often each worker process says it is alive")
    lease_s: float = Field(20.0, gt=0, description="a running job whose worker process has not been heard from "
                           "this long is taken up again")
    reap_interval_s: float = Field(10.0, gt=0, description="how often beat looks for jobs of lost worker processes")
    s3_fetch_threads: int = Field(8, description="threads fetching one batch's photos")
    models_bucket: str = Field("", description="bucket holding models/ (registry, ONNX files, cards); "
                               "empty: the photo bucket")
    # every file is checked against the registry's SHA-256 before it is loaded, from here too
    model_cache_dir: Path = Field(Path(tempfile.gettempdir()) / "shelfwatch-models",
                                  description="where a worker keeps the model files it downloaded")
    model_tune: bool = Field(True, description="a worker measures a model's INT8 and FP32 forms on its CPU and "
                             "runs the faster (once per CPU type, kept in MODEL_CACHE_DIR/tuning.json)")
    tune_photos_dir: Path = Field(Path("samples"), description="shelf photos (the project's own synthetic samples) "
                                  "on which another execution provider's detections must agree with the CPU "
                                  "provider's before MODEL_TUNE may choose it")
    model_cache_size: int = Field(3, ge=1, description="model sessions a worker process keeps (LRU)")
    model_registry_ttl_s: float = Field(30.0, ge=0, description="a worker re-reads the registry at most this "
                                        "often: a promotion serves new audits within this bound")

    # --- nightly re-scan ----------------------------------------------------------------
    rescan_cron: str = Field("", description="cron expression (m h dom mon dow, UTC) of the nightly re-scan "
                             "with the serving model; empty: off")
    rescan_chunk: int = Field(200, ge=1, description="photos a re-scan enqueues per step")
    rescan_max_in_flight: int = Field(1000, ge=1, description="most re-scan photos on the broker at once, "
                                      "per run: 1 M stored photos never mean 1 M messages")
    rescan_feed_interval_s: float = Field(2.0, gt=0, description="how often beat tops up running re-scans")
    rescan_stall_s: float = Field(120.0, gt=0, description="a run whose photos stopped finishing for this long "
                                  "is fed again from the start (messages lost with a killed worker)")

    # --- webhooks to the retailer's ERP ------------------------------------------------
    public_url: str = Field("", description="the gateway's public base URL, for links in webhook events "
                            "(empty: links are paths such as /v1/audits/<id>)")
    webhook_connect_timeout_s: float = Field(3.0, gt=0, description="connect timeout of one delivery attempt")
    webhook_read_timeout_s: float = Field(10.0, gt=0, description="read timeout of one delivery attempt")
    webhook_retry_for_s: float = Field(86_400, gt=0, description="how long a failing delivery is retried "
                                       "before it is dead (24 h)")
    webhook_backoff_base_s: float = Field(30.0, gt=0, description="first retry after about this long; "
                                          "doubles each attempt, with full jitter")
    webhook_backoff_cap_s: float = Field(3600.0, gt=0, description="longest wait between two attempts")
    webhook_secret_overlap_s: float = Field(86_400, ge=0, description="after a secret rotation the old secret "
                                            "still signs (a second v1=) this long")
    webhook_dispatch_interval_s: float = Field(5.0, gt=0, description="how often beat sends due deliveries")
    webhook_allow_networks: str = Field("", description="comma-separated CIDRs webhook URLs may resolve to "
                                        "although private or loopback (the local stack: 127.0.0.0/8)")

    # --- observability --------------------------------------------------------------------
    log_format: str = Field("json", pattern="^(json|text)$", description="json (one object a line) or text")
    metrics_token: str = Field("", description="if set, /metrics needs 'Authorization: Bearer <it>' and /readyz "
                               "shows its checks only with it; empty: both open (keep them inside the cluster)")
    metrics_dir: Path = Field(Path(tempfile.gettempdir()) / "shelfwatch-metrics",
                              description="where gunicorn's and Celery's processes keep their metric samples "
                              "(prometheus_client's multiprocess mode; one subfolder per role and pid)")
    worker_metrics_port: int = Field(0, ge=0, description="port a worker pool serves /metrics on (0: none)")

    drift_interval_s: float = Field(3600, gt=0, description="how often beat computes the drift statistics")
    drift_recent_h: float = Field(24, gt=0, description="drift: the recent window, hours")
    drift_reference_h: float = Field(168, gt=0, description="drift: the reference window before it, hours")
    accuracy_interval_s: float = Field(21_600, ge=0, description="how often the serving models are scored on "
                                       "the validation set in the bucket (0: never)")

    # --- clients and development ------------------------------------------------------
    shelfwatch_api_key: str = Field("", description="API key `shelfwatch submit` sends when --key is absent")
    real_data_dir: Path | None = Field(None, description="folder of real shelf photos (images/, train.txt, "
                                       "val.txt) for training checks and benchmarks; never needed to serve")
    # limits (api/limits.py): "N per second|minute|hour|day" strings, in Redis (REDIS_URL), per gateway fleet
    rate_limit_per_ip: str = Field("1200 per minute", description="every request from one client address")
    rate_limit_submit: str = Field("120 per minute", description="POST /v1/audits per API key")
    rate_limit_read: str = Field("1200 per minute", description="reads (polling) per API key")
    rate_limit_admin: str = Field("300 per minute", description="admin routes per API key")
    rate_limit_storage_url: str = Field("", description="where the counters live; empty: REDIS_URL")
    rate_limit_key_prefix: str = Field("shelfwatch-rl", description="prefix of the counters' keys")
    quota_photos_per_day: int = Field(20_000, ge=0, description="photos one tenant may submit per UTC day; 0: none")
    ort_openvino_python: str = Field("", description="benchmarks only: the python of a separate venv with "
                                     "onnxruntime-openvino; empty: that execution provider is not measured")

    @field_validator("rate_limit_per_ip", "rate_limit_submit", "rate_limit_read", "rate_limit_admin")
    @classmethod
    def _a_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit: {value!r} (write e.g. '120 per minute')") from exc
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.lease_s < 2 * self.heartbeat_interval_s:
            raise ValueError("LEASE_S must be at least twice HEARTBEAT_INTERVAL_S, or a live worker loses its jobs")
        if self.visibility_timeout_s <= self.task_time_limit_s:
            raise ValueError("VISIBILITY_TIMEOUT_S must exceed TASK_TIME_LIMIT_S, or a slow batch is run twice")
        if self.env == "production" and not self.database_url:
            raise ValueError("DATABASE_URL is required in production")
        if self.env == "production" and self.webhook_allow_networks:
            raise ValueError("WEBHOOK_ALLOW_NETWORKS must be empty in production: webhooks go to public HTTPS only")
        return self

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment; with ``SECRETS_DIR``, also from one file per setting
    there (``DATABASE_URL``, ``REDIS_URL``…: a Kubernetes Secret mounted as files, so secrets
    never sit in a process's environment). The environment wins where both give a value."""
    secrets = os.environ.get("SECRETS_DIR")
    return Settings(_secrets_dir=secrets) if secrets else Settings()
