-- Ingest jobs live in db_content next to the books they produce.
CREATE TABLE ingest_jobs (
    job_id          uuid PRIMARY KEY,
    -- Allocated at upload; the book appears under this id only when the job succeeds.
    book_id         uuid NOT NULL UNIQUE,
    state           text NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    stage           text NOT NULL DEFAULT 'UNSPECIFIED'
                    CHECK (stage IN ('UNSPECIFIED', 'PARSING', 'EMBEDDING', 'LOADING', 'DONE')),
    title           text NOT NULL,
    filename        text NOT NULL,
    authors         text[] NOT NULL DEFAULT '{}',
    subject         text NOT NULL DEFAULT '',
    grade_level     text NOT NULL DEFAULT '',
    content_sha256  text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes      bigint NOT NULL CHECK (size_bytes > 0),
    storage_key     text NOT NULL,
    pages_total     integer NOT NULL DEFAULT 0,
    pages_done      integer NOT NULL DEFAULT 0,
    atoms_written   integer NOT NULL DEFAULT 0,
    failure_reason  text NOT NULL DEFAULT 'UNSPECIFIED'
                    CHECK (failure_reason IN ('UNSPECIFIED', 'ENCRYPTED', 'NO_TEXT', 'CORRUPT', 'INTERNAL')),
    error_message   text NOT NULL DEFAULT '',
    created_by      text NOT NULL,
    -- The parse plan (structure nodes) written once by the first pipeline step.
    plan            jsonb,
    -- Liveness for recovery: which worker last claimed a step and when any step last reported.
    claimed_by      text NOT NULL DEFAULT '',
    heartbeat_time  timestamptz NOT NULL DEFAULT now(),
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    end_time        timestamptz
);

-- At most one job in flight per file: concurrent uploads of the same bytes produce one book.
CREATE UNIQUE INDEX ingest_jobs_one_in_flight_per_sha ON ingest_jobs (content_sha256)
    WHERE state IN ('QUEUED', 'RUNNING');
CREATE INDEX ingest_jobs_sha ON ingest_jobs (content_sha256);
CREATE INDEX ingest_jobs_newest ON ingest_jobs (create_time DESC, job_id DESC);
CREATE INDEX ingest_jobs_state_newest ON ingest_jobs (state, create_time DESC, job_id DESC);

-- One row per page range of a job; workers fill them in parallel, idempotently (keyed by range).
CREATE TABLE ingest_job_ranges (
    job_id      uuid NOT NULL REFERENCES ingest_jobs (job_id) ON DELETE CASCADE,
    first_page  integer NOT NULL,
    last_page   integer NOT NULL CHECK (last_page >= first_page),
    done        boolean NOT NULL DEFAULT false,
    claimed_by  text NOT NULL DEFAULT '',
    -- [[node_key, page_number, text], ...] in reading order, and their float32 embeddings.
    atoms       jsonb,
    embeddings  bytea,
    PRIMARY KEY (job_id, first_page)
);
