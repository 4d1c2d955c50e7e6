"""`python -m services.<name>`: settings from the environment, logging and tracing, then the service
until SIGTERM. A service that cannot start says why in one line and exits non-zero."""

from pydantic import ValidationError

from services.common.logging import configure_logging
from services.common.server import serve
from services.common.telemetry import configure_tracing


def _env_name(settings_type: type, location: tuple) -> str:
    prefix = settings_type.model_config.get("env_prefix", "")
    return prefix + "__".join(str(part) for part in location).upper()


def run_service(name: str, settings_type: type, app_type: type) -> None:
    try:
        settings = settings_type()
    except ValidationError as error:
        problems = "; ".join(f"{_env_name(settings_type, e['loc'])}: {e['msg']}" for e in error.errors())
        raise SystemExit(f"{name}: cannot start: {problems}") from None
    configure_logging(name, settings.telemetry.log_level)
    configure_tracing(name, settings.telemetry.trace_exporter, settings.telemetry.trace_sample_ratio)
    app = app_type(settings)
    serve(app.start, app.stop, settings.runtime.event_loop)
