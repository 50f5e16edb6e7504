# syntax=docker/dockerfile:1
#
# ShelfWatch: one image, three roles, chosen by the command:
#
#   docker run IMAGE api --host 0.0.0.0     the gateway (gunicorn, port 8000) - the default
#   docker run IMAGE worker --queues audits a Celery inference worker
#   docker run IMAGE migrate                alembic upgrade head, then exit
#
# Serving dependencies only: `pip install .` without the `train` extra, so no torch or
# ultralytics. models/ is baked in at /app/models (the INT8 ONNX files, their cards and
# registry.json, which maps each mode to a model), so a worker never downloads anything
# at start-up and a given image tag always runs the same models.

############################ build: a virtualenv with the project ############################
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# 1. Dependencies alone, so this slow layer (onnxruntime, opencv, numpy, ...) is cached
#    until setup.cfg or pyproject.toml change. With no package directories copied yet,
#    `packages = find:` finds nothing and this installs only install_requires; the empty
#    shelfwatch distribution is removed again right after.
COPY setup.cfg pyproject.toml ./
RUN pip install --upgrade pip setuptools wheel \
 && pip install . \
 && pip uninstall --yes shelfwatch

# 2. The project itself (console script `shelfwatch`); its dependencies are already in.
COPY api ./api
COPY workers ./workers
COPY shared ./shared
COPY shelfwatch_cli ./shelfwatch_cli
COPY training ./training
RUN pip install --no-deps .

############################ runtime ############################
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="shelfwatch" \
      org.opencontainers.image.description="Shelf-audit gateway, inference worker and migrations" \
      org.opencontainers.image.licenses="Apache-2.0"

# PYTHONPATH=/app: shared/settings.py finds alembic.ini, migrations/ and models/ relative to
# its own file (ROOT = the directory above shared/). Installed non-editable, that would be
# site-packages, where none of them are. Putting /app first on the path makes the
# project's modules load from /app, so ROOT is /app. The copy in the venv is then only
# the console script's target; a build-time check below keeps this honest.
#
# The *_NUM_THREADS variables: capacity is planned as WORKER_CONCURRENCY processes with
# ORT_THREADS threads each. OpenCV and OpenBLAS would otherwise start one thread per
# *node* core in every process (a container does not hide the host's cores).
#
# HOME=/tmp: /app is read-only, and in Kubernetes the root filesystem is too; /tmp is the
# one writable place (an emptyDir there). gunicorn puts its control socket under $HOME.
#
# MODEL_PATH is deliberately not set: it would pin one model for every mode and bypass
# models/registry.json. Set it only to force a single model (tests, benchmarks).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MODELS_DIR=/app/models \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    OPENCV_FOR_THREADS_NUM=1

# A fixed numeric uid/gid, so Kubernetes `runAsNonRoot` can verify it without a name lookup.
RUN groupadd --system --gid 10001 shelfwatch \
 && useradd --system --uid 10001 --gid shelfwatch --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin shelfwatch

COPY --from=build /opt/venv /opt/venv

# Code and model stay owned by root: the service user can read but not change them, and
# the containers can run with a read-only root filesystem.
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
COPY api ./api
COPY workers ./workers
COPY shared ./shared
COPY shelfwatch_cli ./shelfwatch_cli
COPY models ./models

# Fail the build, not the first deployment: bytecode ahead of time (the root filesystem
# is read-only at run time), native libraries load, the paths resolve to /app, and every
# mode's model opens the way a worker opens it (workers/app.py: registry, then Detector).
RUN python -m compileall -q /app \
 && python -c "import cv2, onnxruntime, psycopg2; print('cv2', cv2.__version__, 'onnxruntime', onnxruntime.__version__)" \
 && python -c "from shared.settings import ROOT; assert str(ROOT) == '/app', ROOT" \
 && python -c "from shared import registry; from shared.detector import Detector; from shared.settings import Settings; s = Settings(); [print(mode, Detector(spec.model, input_size=spec.input_size).version) for mode, spec in registry.resolve(s.models_dir, s.model_path).items()]"

USER 10001:10001
EXPOSE 8000

# No HEALTHCHECK here: the same image runs the gateway, the workers and a one-shot
# migration, and only the gateway has an HTTP endpoint. docker-compose.yml and the
# Kubernetes manifests define a check per role instead.
ENTRYPOINT ["shelfwatch"]
CMD ["api", "--host", "0.0.0.0"]
