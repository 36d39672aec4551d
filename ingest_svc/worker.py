"""The Celery application of the ingest pipeline (`celery -A ingest_svc.worker worker`)."""

from __future__ import annotations

from celery import Celery

from common.settings import get_settings

settings = get_settings()

app = Celery("ingest_svc", broker=settings.redis_url)
app.conf.update(
    # A task is acknowledged only after it finished, so a worker killed mid-book loses nothing.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)


@app.task(name="ingest.ping")
def ping() -> str:
    return "pong"
