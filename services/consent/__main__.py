"""`python -m services.consent`: runs the consent service until SIGTERM."""

import asyncio

from services.common.logging import configure_logging
from services.common.server import run_until_signalled
from services.common.telemetry import configure_tracing
from services.consent.app import ConsentApp
from services.consent.settings import ConsentSettings


def main() -> None:
    settings = ConsentSettings()
    configure_logging("consent", settings.telemetry.log_level)
    configure_tracing("consent", settings.telemetry.trace_exporter, settings.telemetry.trace_sample_ratio)
    app = ConsentApp(settings)
    asyncio.run(run_until_signalled(app.start, app.stop))


if __name__ == "__main__":
    main()
