"""The suite's reflection server: lists and describes every service behind the Envoy front.

Each service answers reflection for itself on its own port. Through the front, one reflection
stream has to cover the whole suite, so Envoy routes reflection here: a server that hosts no
service of its own, only health and reflection over the descriptors of all three contracts, so
`grpcurl -plaintext localhost:8080 list` and `buf curl --list-services` show the whole suite.
"""

from teaching.content.v1 import content_service_pb2
from teaching.ingest.v1 import ingest_service_pb2
from teaching.user.v1 import user_service_pb2

SUITE_SERVICES = tuple(
    service.full_name
    for module in (content_service_pb2, user_service_pb2, ingest_service_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
)
