"""`python -m services.dsr`: runs the dsr service until SIGTERM."""

from services.common.logging import configure_logging
from services.common.server import serve
from services.common.telemetry import configure_tracing
from services.dsr.app import DsrApp
from services.dsr.settings import DsrSettings


def main() -> None:
    settings = DsrSettings()
    configure_logging("dsr", settings.telemetry.log_level)
    configure_tracing("dsr", settings.telemetry.trace_exporter, settings.telemetry.trace_sample_ratio)
    app = DsrApp(settings)
    serve(app.start, app.stop, settings.runtime.event_loop)


if __name__ == "__main__":
    main()
