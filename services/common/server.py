"""grpc.aio server lifecycle: mTLS, authorization, request ids, health, reflection, and a
graceful stop (health NOT_SERVING first, so load balancers drain before calls are refused)."""

import asyncio
import signal
from collections.abc import Awaitable, Callable

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from services.common import auth
from services.common.grpc_errors import abort
from services.common.ids import new_id
from services.common.logging import get_logger
from services.common.settings import GrpcSettings

log = get_logger(__name__)


def _client_id(context: grpc.aio.ServicerContext, settings: GrpcSettings) -> str | None:
    if settings.insecure_client_id:
        return settings.insecure_client_id
    names = context.auth_context().get("x509_common_name")
    return names[0].decode() if names else None


class _AuthorizingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary handler: identify, authorize, bind request id, hide internal errors."""

    def __init__(self, policy: auth.Policy, settings: GrpcSettings) -> None:
        self._policy = policy
        self._settings = settings

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        method = details.method.lstrip("/")
        if handler is None or handler.unary_unary is None or auth.is_open(method):
            return handler
        inner = handler.unary_unary
        policy, settings = self._policy, self._settings

        async def guarded(request, context: grpc.aio.ServicerContext):
            metadata = dict(context.invocation_metadata() or ())
            structlog.contextvars.bind_contextvars(request_id=metadata.get("x-request-id") or str(new_id()),
                                                   rpc=method)
            try:
                auth.bind_client(policy.authorize(_client_id(context, settings), method))
            except auth.Unauthenticated as exc:
                await abort(context, grpc.StatusCode.UNAUTHENTICATED, str(exc))
            except auth.PermissionDenied as exc:
                await abort(context, grpc.StatusCode.PERMISSION_DENIED, str(exc))
            try:
                return await inner(request, context)
            except auth.PermissionDenied as exc:
                await abort(context, grpc.StatusCode.PERMISSION_DENIED, str(exc))
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise
            except Exception:
                log.exception("unhandled error")
                await abort(context, grpc.StatusCode.INTERNAL, "internal error")

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    def __init__(self, settings: GrpcSettings, policy: auth.Policy, service_names: list[str],
                 register: Callable[[grpc.aio.Server], None]) -> None:
        self._settings = settings
        self._server = grpc.aio.server(
            interceptors=[aio_server_interceptor(), _AuthorizingInterceptor(policy, settings)],
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
            options=[("grpc.so_reuseport", 0)],
        )
        register(self._server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME],
                                            self._server)
        self._service_names = service_names
        self.port = self._bind()

    def _bind(self) -> int:
        s = self._settings
        if s.insecure_client_id:
            return self._server.add_insecure_port(s.listen)
        if not (s.tls_cert and s.tls_key and s.tls_client_ca):
            raise ValueError("gRPC needs tls_cert, tls_key and tls_client_ca (or insecure_client_id for dev)")
        credentials = grpc.ssl_server_credentials(
            [(s.tls_key.read_bytes(), s.tls_cert.read_bytes())],
            root_certificates=s.tls_client_ca.read_bytes(),
            # grpcio offers "require" or "don't ask", nothing between: mTLS means require.
            require_client_auth=True,
        )
        return self._server.add_secure_port(s.listen, credentials)

    async def start(self) -> None:
        await self._server.start()
        for name in ["", *self._service_names]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self) -> None:
        for name in ["", *self._service_names]:
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(self._settings.shutdown_grace_s)


async def run_until_signalled(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
    """Starts, waits for SIGTERM or SIGINT, then stops."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await start()
    try:
        await stopping.wait()
    finally:
        await stop()
