# syntax=docker/dockerfile:1
# One image for the three services and the Celery worker; docker-compose.yml picks the command.

# --- Stage 1: wheels for the project and its pinned dependencies (requirements.lock). -------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml requirements.lock ./
COPY common ./common
COPY content_svc ./content_svc
COPY user_svc ./user_svc
COPY ingest_svc ./ingest_svc
COPY reflection_svc ./reflection_svc
COPY ta_cli ./ta_cli
COPY gen ./gen
# The lock pins every version (it also lists dev tools, which constraints simply ignore).
RUN pip wheel --wheel-dir /wheels --constraint requirements.lock .

# --- Stage 2: slim runtime, no compilers, no sources, not root. ------------------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 10001 --user-group app \
    && mkdir -p /data/uploads && chown app:app /data/uploads
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-index --find-links /tmp/wheels teaching-suite && rm -rf /tmp/wheels
USER app
WORKDIR /home/app
# Containers listen on every interface; ports are the services' defaults (common/settings.py).
# Metrics in prometheus_client's multiprocess mode (the worker's pool is several processes); compose
# mounts a fresh tmpfs there.
ENV BIND_HOST=0.0.0.0 STORAGE_URL=file:///data/uploads PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
EXPOSE 50051 50052 50053 50054 9151 9152 9153 9154 9155
CMD ["python", "-m", "content_svc"]
