"""`python -m services.keyvault`: runs the keyvault service until SIGTERM."""

from services.common.logging import configure_logging
from services.common.server import serve
from services.common.telemetry import configure_tracing
from services.keyvault.app import KeyVaultApp
from services.keyvault.settings import KeyVaultSettings


def main() -> None:
    settings = KeyVaultSettings()
    configure_logging("keyvault", settings.telemetry.log_level)
    configure_tracing("keyvault", settings.telemetry.trace_exporter, settings.telemetry.trace_sample_ratio)
    app = KeyVaultApp(settings)
    serve(app.start, app.stop, settings.runtime.event_loop)


if __name__ == "__main__":
    main()
