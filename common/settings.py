"""Settings from the environment, with the infrastructure plan's variable names.

The same code runs embedded (`make dev`), in containers (docker-compose) and on Cloud Run; only the
environment differs. Every field can be set by its upper-case name, e.g. POSTGRES_CONTENT_HOST.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(ValueError):
    """Settings a process cannot run with; the message says which variable to set and how."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # db_content: Postgres + pgvector, owned by content_svc (the ingest worker writes books into it).
    postgres_content_host: str = "127.0.0.1"
    postgres_content_port: int = 5433
    postgres_content_db: str = "db_content"
    postgres_content_user: str = "postgres"
    postgres_content_password: SecretStr = SecretStr("")

    # db_user: Postgres, owned by user_svc. The defaults are `make dev`'s (one cluster on 5433 holds
    # both databases); docker-compose sets its own (and publishes db_user on host port 5434).
    postgres_user_host: str = "127.0.0.1"
    postgres_user_port: int = 5433
    postgres_user_db: str = "db_user"
    postgres_user_user: str = "postgres"
    postgres_user_password: SecretStr = SecretStr("")

    db_pool_min_size: int = 1
    db_pool_max_size: int = 10
    # Database outages fail fast (common.db): a call waits at most this long for a pooled connection,
    # a new connection at most this long to connect (libpq counts whole seconds, at least 2).
    db_checkout_timeout_seconds: float = 2.0
    db_connect_timeout_seconds: int = 2
    # A lost connection is retried in the background for this long; then the next call retries afresh
    # (short, so the pool refills within a second of the database's return, whatever the outage).
    db_reconnect_timeout_seconds: float = 2.0

    # Health probes (common.health): each dependency is checked this often; a check that has not
    # answered within the timeout counts as a failure (a frozen server).
    health_probe_seconds: float = 1.0
    health_probe_timeout_seconds: float = 2.0

    # Celery broker and the content read cache.
    redis_url: str = "redis://127.0.0.1:6379/0"
    cache_enabled: bool = True
    cache_ttl_seconds: int = 600

    # Raw uploads: file:///abs/folder locally, gs://bucket/prefix in production.
    storage_url: str = "file:///tmp/teaching-uploads"
    # Optional GCS endpoint override (the local GCS emulator in tests).
    storage_gcs_endpoint: str = ""

    # gRPC listeners.
    bind_host: str = "127.0.0.1"
    content_port: int = 50051
    user_port: int = 50052
    ingest_port: int = 50053
    # The suite's reflection server (reflection_svc): Envoy routes reflection through the front to it.
    reflection_port: int = 50054
    # Prometheus metrics (common.metrics) at http://BIND_HOST:PORT/metrics; 0 = not served. `make dev`
    # serves them on 9151-9155; a process started by hand serves none unless told to.
    content_metrics_port: int = 0
    user_metrics_port: int = 0
    ingest_metrics_port: int = 0
    reflection_metrics_port: int = 0
    worker_metrics_port: int = 0
    grpc_max_workers: int = 32
    # Server processes per service on its one port (common.prefork; SO_REUSEPORT spreads connections
    # over them). One Python process uses about one core: more pay only with spare cores and clients
    # that open several connections (docs/benchmarks.md). More than 1 needs PROMETHEUS_MULTIPROC_DIR
    # when metrics are served, and a fixed port.
    content_server_processes: int = Field(default=1, ge=1, le=64)
    user_server_processes: int = Field(default=1, ge=1, le=64)
    ingest_server_processes: int = Field(default=1, ge=1, le=64)
    # Long-lived non-blocking streams (WatchIngestJob) a server holds at most, all callers together and
    # per caller; they hold no thread, and beyond these a new one gets RESOURCE_EXHAUSTED.
    watch_max_streams: int = 1024
    watch_max_per_caller: int = 64
    # Largest gRPC message a service accepts (upload chunks are at most 1 MiB).
    grpc_max_message_bytes: int = 4 * 1024 * 1024
    # Seconds in-flight calls get to finish on SIGTERM.
    shutdown_grace_seconds: float = 10.0

    # Where UserService asks ContentService whether an artifact's references exist (a gRPC target:
    # host:port, or ipv4:host:port,host:port for several replicas; the caller's bearer token is
    # forwarded), and how long it waits: past that, UNAVAILABLE.
    content_service_address: str = "127.0.0.1:50051"
    content_service_timeout_seconds: float = 2.0
    # How long UserService counts a reference ContentService confirmed as still there when it reads
    # an artifact (user_svc.library): a deleted book or strategy is flagged that much later at most.
    # 0: every read asks. Writes always ask.
    reference_cache_seconds: float = Field(default=5.0, ge=0)

    # Identity (DESIGN.md §3, common/auth.py). There is no default key: a service refuses to start
    # without one. Development: HS256 with JWT_SECRET (the embedded stack writes a random one per data
    # folder). Production: the identity provider's public keys, JWT_ALGORITHM=RS256 (or a list such
    # as "RS256,ES256") with JWT_JWKS_URL, or a single PEM key in JWT_PUBLIC_KEY.
    jwt_algorithm: str = "HS256"
    jwt_secret: SecretStr = SecretStr("")
    jwt_public_key: str = ""
    jwt_jwks_url: str = ""
    # How long fetched JWKS keys are used before they are fetched again, and the least time between
    # two fetches forced by tokens with an unknown key id (a rotated key; also bounds what forged key
    # ids can make us fetch).
    jwt_jwks_cache_seconds: float = Field(default=300.0, gt=0)
    jwt_jwks_refresh_cooldown_seconds: float = Field(default=30.0, ge=0)
    jwt_issuer: str = "teaching-dev"
    jwt_audience: str = "teaching-api"
    # Clock skew tolerated on exp, nbf and iat, and the longest lifetime (exp - iat) accepted.
    jwt_leeway_seconds: int = Field(default=60, ge=0)
    jwt_max_lifetime_seconds: int = Field(default=24 * 3600, gt=0)
    # Encrypts and authenticates page tokens (common/pagination.py). No default either: a service
    # refuses to start without one of at least 32 characters (the embedded stack writes a random one).
    page_token_secret: SecretStr = SecretStr("")

    # Embeddings (content_svc and the ingest worker must agree).
    embedder: str = "hashing"
    embedding_dimension: int = 384
    embedding_model_name: str = "sentence-transformers/all-MiniLM-L6-v2"
    embedding_api_url: str = ""
    embedding_api_key: SecretStr = SecretStr("")

    # Retrieval (content_svc, docs/benchmarks.md): vectors of up to SEARCH_EXACT_MAX_ATOMS atoms in
    # scope are searched exactly, in process from a per-book vector cache of at most VECTOR_CACHE_MB
    # per process while the scope's float32 vectors fit it (0: exact scans in Postgres instead, which
    # cost ~0.9 us per vector: lower the limit then), more through the HNSW index, whose scans
    # collect HNSW_EF_SEARCH candidates per pass (pgvector's largest, 1000: library-wide over 1M
    # atoms recall@10 0.94 against 0.86 at 400, for +5.6 ms; docs/benchmarks.md). The catalogue of
    # ready books is re-read on every change and at least this often.
    search_exact_max_atoms: int = Field(default=150_000, ge=0)
    vector_cache_mb: int = Field(default=256, ge=0)
    hnsw_ef_search: int = Field(default=1000, ge=10, le=1000)
    catalogue_ttl_seconds: float = Field(default=30.0, gt=0)

    # Ingest limits.
    upload_max_bytes: int = 200 * 1024 * 1024
    upload_chunk_max_bytes: int = 1024 * 1024
    # Stored files (ingest_svc.sweeper): swept this often; a job's PDF is kept this long after the job
    # ended; a partial upload or a PDF without a job is removed once left alone this long.
    ingest_sweep_seconds: float = 600.0
    ingest_file_retention_seconds: float = 24 * 3600.0
    ingest_orphan_grace_seconds: float = 3600.0
    # Tests only: a folder where a test can hold a book's ingest job at a named point
    # (ingest_svc.holds.HoldPoints). Unset in production: no hold point is ever checked.
    ingest_hold_dir: str = ""

    log_level: str = Field(default="INFO")

    def content_conninfo(self) -> str:
        return _conninfo(
            self.postgres_content_host,
            self.postgres_content_port,
            self.postgres_content_db,
            self.postgres_content_user,
            self.postgres_content_password.get_secret_value(),
        )

    def user_conninfo(self) -> str:
        return _conninfo(
            self.postgres_user_host,
            self.postgres_user_port,
            self.postgres_user_db,
            self.postgres_user_user,
            self.postgres_user_password.get_secret_value(),
        )


def _conninfo(host: str, port: int, dbname: str, user: str, password: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(host=host, port=port, dbname=dbname, user=user, password=password or None)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
