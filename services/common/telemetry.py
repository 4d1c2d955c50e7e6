"""OpenTelemetry tracing: spans across gRPC calls and Kafka messages, linked by W3C traceparent."""

from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased


def configure_tracing(service: str, exporter: str = "none", sample_ratio: float = 1.0) -> TracerProvider | None:
    """`exporter` is "console" or "otlp"; with "none" no spans are recorded, but trace context is still
    propagated from callers into events and logs."""
    if exporter == "none":
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"consentry-{service}"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":  # optional dependency: opentelemetry-exporter-otlp
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def current_traceparent() -> str:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def context_from_traceparent(traceparent: str):
    """The context to start a consumer span under, continuing the producer's trace."""
    return propagate.extract({"traceparent": traceparent} if traceparent else {})


def headers_to_carrier(headers: Mapping[str, bytes] | list[tuple[str, bytes]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {key: value.decode() for key, value in items if value is not None}
