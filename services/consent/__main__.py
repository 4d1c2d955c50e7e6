"""`python -m services.consent`: runs the consent service until SIGTERM."""

from services.common.logging import configure_logging
from services.common.server import serve
from services.common.telemetry import configure_tracing
from services.consent.app import ConsentApp
from services.consent.settings import ConsentSettings


def main() -> None:
    settings = ConsentSettings()
    configure_logging("consent", settings.telemetry.log_level)
    configure_tracing("consent", settings.telemetry.trace_exporter, settings.telemetry.trace_sample_ratio)
    app = ConsentApp(settings)
    serve(app.start, app.stop, settings.runtime.event_loop)


if __name__ == "__main__":
    main()
