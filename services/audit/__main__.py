"""`python -m services.audit`: runs the audit service until SIGTERM."""

from services.audit.app import AuditApp
from services.audit.settings import AuditSettings
from services.common.logging import configure_logging
from services.common.server import serve
from services.common.telemetry import configure_tracing


def main() -> None:
    settings = AuditSettings()
    configure_logging("audit", settings.telemetry.log_level)
    configure_tracing("audit", settings.telemetry.trace_exporter, settings.telemetry.trace_sample_ratio)
    app = AuditApp(settings)
    serve(app.start, app.stop, settings.runtime.event_loop)


if __name__ == "__main__":
    main()
