"""`python -m reflection_svc`: serve reflection for the whole suite on REFLECTION_PORT."""

from common.server import ServiceServer
from common.settings import get_settings
from common.telemetry import start_process
from reflection_svc import SUITE_SERVICES


def main() -> None:
    settings = get_settings()
    start_process(settings, "Reflection", settings.reflection_metrics_port)
    ServiceServer(settings, port=settings.reflection_port, service_names=[], register=lambda _server: None,
                  reflected=SUITE_SERVICES).serve_forever()


if __name__ == "__main__":
    main()
