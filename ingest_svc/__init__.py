"""IngestService: streamed PDF uploads, stored and handed to Celery workers that build books."""
