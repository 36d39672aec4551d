-- A job's stored PDF is removed a retention period after the job ended (ingest_svc.sweeper); this
-- records when, so the sweeper looks at each ended job once.
ALTER TABLE ingest_jobs ADD COLUMN file_removed_time timestamptz;
CREATE INDEX ingest_jobs_file_to_remove ON ingest_jobs (end_time)
    WHERE end_time IS NOT NULL AND file_removed_time IS NULL;
