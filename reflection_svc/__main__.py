"""`python -m reflection_svc`: serve reflection for the whole suite on REFLECTION_PORT."""

from common.server import ServiceServer, configure_logging
from common.settings import get_settings
from reflection_svc import SUITE_SERVICES


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    ServiceServer(settings, port=settings.reflection_port, service_names=[], register=lambda _server: None,
                  reflected=SUITE_SERVICES).serve_forever()


if __name__ == "__main__":
    main()
