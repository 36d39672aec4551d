-- The outbox: the job row is the source of truth for what the workers must be told. A job whose
-- `prepare` message is due carries dispatch_after (set in the transaction that records the job, when
-- a step could not publish its successors, or when the job's worker died); a relay
-- (ingest_svc.outbox) publishes it and clears the column once the broker accepted the message.
ALTER TABLE ingest_jobs ADD COLUMN dispatch_after timestamptz;
-- The trace the dispatch belongs to (W3C traceparent/tracestate of the upload, or of the step that
-- asked for it), so the relay's publish continues it: one upload is still one trace.
ALTER TABLE ingest_jobs ADD COLUMN dispatch_trace jsonb;
CREATE INDEX ingest_jobs_dispatch_due ON ingest_jobs (dispatch_after) WHERE dispatch_after IS NOT NULL;
-- Jobs in flight before the outbox existed are published once more (every step is idempotent).
UPDATE ingest_jobs SET dispatch_after = now() WHERE state IN ('QUEUED', 'RUNNING');

-- The workers alive: each Celery worker beats here every few seconds. Work claimed by a worker that
-- stopped beating (killed, or replaced under another name) is dispatched again.
CREATE TABLE ingest_workers (
    worker_name     text PRIMARY KEY,
    heartbeat_time  timestamptz NOT NULL DEFAULT now()
);
