"""structlog JSON logs; every line carries the request id and trace id bound for the current task."""

import logging
import random
import sys
from contextvars import ContextVar

import structlog
from opentelemetry import trace

# The RPC a task serves and its request id: one variable set once per call (structlog's own binding
# sets one per key, and this is set on every call of every RPC).
_call: ContextVar[tuple[str, str] | None] = ContextVar("consentry_call", default=None)


def bind_call(rpc: str, request_id: str | None) -> None:
    """Every line logged by the current task from now on names `rpc` and `request_id`; without a
    request id from the caller, a new one (log correlation only: a pseudo-random one will do)."""
    _call.set((rpc, request_id or f"{random.getrandbits(64):016x}"))


def _add_call(_logger, _method, event: dict) -> dict:
    call = _call.get()
    if call is not None:
        event.setdefault("rpc", call[0])
        event.setdefault("request_id", call[1])
    return event


def _add_trace_ids(_logger, _method, event: dict) -> dict:
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event.setdefault("trace_id", format(span.trace_id, "032x"))
        event.setdefault("span_id", format(span.span_id, "016x"))
    return event


def configure_logging(service: str, level: str = "INFO") -> None:
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stdout, level=numeric, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_call,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
