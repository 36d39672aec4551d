-- Per range: {start page: key of the earlier node whose text tops that page}, for the start pages
-- the range extracted. finalize extends those nodes' last_page onto the shared page.
ALTER TABLE ingest_job_ranges ADD COLUMN runs_onto jsonb;
