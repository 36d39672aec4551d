-- WatchIngestJob follows jobs through LISTEN/NOTIFY (ingest_svc.watches): every change a watcher can
-- see (each sets update_time, or the state) notifies the job's id, delivered when its transaction
-- commits. Heartbeats and outbox bookkeeping do not touch update_time and notify nobody.
CREATE FUNCTION ingest_job_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ingest_job_changed', NEW.job_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER ingest_job_changed AFTER UPDATE ON ingest_jobs FOR EACH ROW
    WHEN (OLD.update_time IS DISTINCT FROM NEW.update_time OR OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION ingest_job_changed();
