# syntax=docker/dockerfile:1
#
# ShelfWatch: one image, three roles, chosen by the command:
#
#   docker run IMAGE api --host 0.0.0.0     the gateway (gunicorn, port 8000) - the default
#   docker run IMAGE worker --queues audits a Celery inference worker
#   docker run IMAGE migrate                the schema at head (alembic upgrade), then exit
#
# The product only: api, workers, shared, ops (the `shelfwatch` command) and migrations,
# installed non-editable into a virtualenv with the serving dependencies (install_requires,
# no extras: no torch, no ultralytics, no test or dev tools), every version from
# constraints.txt. models/ is baked in at /app/models (the INT8 ONNX files, their cards and
# registry.json, which maps each mode to a model), so a worker never downloads anything at
# start-up and a given image tag always runs the same models. devtools/, training/,
# loadtest/ and tests/ never enter the build context (.dockerignore).

############################ build: a virtualenv with the project ############################
# checkov:skip=CKV_DOCKER_2: one image, many roles (api, worker, beat, migrate): each orchestrator probes its role (compose healthchecks, Kubernetes probes)
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# 1. Dependencies alone, so this slow layer (onnxruntime, opencv, numpy, ...) is cached
#    until setup.cfg, pyproject.toml or constraints.txt change. With no package directories
#    copied yet, `packages = find:` finds nothing and this installs only install_requires;
#    the empty shelfwatch distribution is removed again right after. setuptools and wheel
#    come from the lock too, and the project builds against them (--no-build-isolation).
COPY constraints.txt setup.cfg pyproject.toml ./
RUN pip install --constraint constraints.txt setuptools wheel \
 && pip install --constraint constraints.txt --no-build-isolation . \
 && pip uninstall --yes shelfwatch

# 1b. Optionally, ONNX Runtime built with the OpenVINO execution provider in place of the
#     CPU-only build (`docker build --build-arg ORT_OPENVINO=1.24.1 .`; the two packages
#     cannot be installed side by side). MODEL_TUNE then also times each model on it and
#     runs it where it is faster and its detections agree with the CPU provider's.
ARG ORT_OPENVINO=""
RUN if [ -n "$ORT_OPENVINO" ]; then \
        pip uninstall --yes onnxruntime && pip install "onnxruntime-openvino==${ORT_OPENVINO}"; \
    fi

# 2. The product itself, non-editable; its dependencies are already in. Only the product
#    directories are here, so `find:` packages nothing else. setup.cfg also declares the
#    developers' console script `shelfwatch-dev` (devtools, not in the image): removed, so
#    the image has no command that cannot run.
COPY api ./api
COPY workers ./workers
COPY shared ./shared
COPY ops ./ops
COPY migrations ./migrations
RUN pip install --constraint constraints.txt --no-deps --no-build-isolation . \
 && rm -f /opt/venv/bin/shelfwatch-dev

############################ runtime ############################
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="shelfwatch" \
      org.opencontainers.image.description="Shelf-audit gateway, inference worker and migrations" \
      org.opencontainers.image.licenses="Apache-2.0"

# The code lives in the virtualenv (site-packages), not in /app: nothing is found relative
# to a source file. Relative paths in the settings are relative to the working directory,
# /app; MODELS_DIR says where the models are outright. Migrations are found as the
# installed `migrations` package (alembic.ini is only for developers' `alembic` CLI).
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

# The models stay owned by root, like the code: the service user can read but not change
# them, and the containers can run with a read-only root filesystem.
WORKDIR /app
COPY models ./models
# the project's own synthetic shelf photos: MODEL_TUNE checks another execution provider's
# detections against the CPU provider's on them (TUNE_PHOTOS_DIR)
COPY samples ./samples

# Fail the build, not the first deployment: bytecode ahead of time for the product (the
# root filesystem is read-only at run time), native libraries load, the roles' modules
# import, no dev tool came along, the migrations are installed with their versions, the
# gateway builds and serves its spec and the Swagger UI from the package's own files (no
# CDN; placeholder URLs, nothing is contacted), and every mode's model opens the way a
# worker opens it (workers/app.py: registry, then Detector).
RUN python -m compileall -q /opt/venv/lib/python3.11/site-packages/api /opt/venv/lib/python3.11/site-packages/workers \
        /opt/venv/lib/python3.11/site-packages/shared /opt/venv/lib/python3.11/site-packages/ops \
        /opt/venv/lib/python3.11/site-packages/migrations \
 && python -c "import cv2, onnxruntime, psycopg2; print('cv2', cv2.__version__, 'onnxruntime', onnxruntime.__version__)" \
 && python -c "import api.app, workers.app, ops.cli, shared.db" \
 && python -c "import importlib.util as u; extra = [m for m in ('devtools', 'training', 'loadtest', 'tests') if u.find_spec(m)]; assert not extra, extra" \
 && python -c "import importlib.resources as r; from alembic.config import Config; from alembic.script import ScriptDirectory; m = r.files('migrations'); assert (m / 'env.py').is_file(); c = Config(); c.set_main_option('script_location', str(m)); head = ScriptDirectory.from_config(c).get_current_head(); assert head, 'no migration scripts in migrations/versions'; print('migrations head', head)" \
 && DATABASE_URL=postgresql+psycopg2://build@127.0.0.1:9/build REDIS_URL=redis://127.0.0.1:9/0 \
    python -c "from api.app import create_app; from shared.settings import Settings; c = create_app(Settings()).test_client(); got = {p: c.get(p).status_code for p in ('/v1/openapi.json', '/docs', '/docs/assets/css/swagger-ui.css', '/docs/assets/js/swagger-ui-bundle.js')}; assert set(got.values()) == {200}, got" \
 && python -c "from shared import registry; from shared.detector import Detector; from shared.settings import Settings; s = Settings(); assert str(s.models_dir) == '/app/models', s.models_dir; [print(mode, Detector(spec.model, input_size=spec.input_size).version) for mode, spec in registry.resolve(s.models_dir, s.model_path).items()]" \
 && shelfwatch --help > /dev/null

USER 10001:10001
EXPOSE 8000

# No HEALTHCHECK here: the same image runs the gateway, the workers and a one-shot
# migration, and only the gateway has an HTTP endpoint. docker-compose.yml and the
# Kubernetes manifests define a check per role instead.
ENTRYPOINT ["shelfwatch"]
CMD ["api", "--host", "0.0.0.0"]
