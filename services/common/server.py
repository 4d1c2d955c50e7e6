"""grpc.aio server lifecycle: mTLS, authorization, request ids, health, reflection, and a
graceful stop (health NOT_SERVING first, so load balancers drain before calls are refused)."""

import asyncio
import signal
from collections.abc import Awaitable, Callable

import asyncpg
import grpc
import hvac
from aiokafka.errors import KafkaError
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from services.common import auth
from services.common.error_table import ErrorTable
from services.common.grpc_errors import Failure, abort
from services.common.logging import bind_call, get_logger
from services.common.settings import GrpcSettings
from services.common.telemetry import context_from_traceparent
from services.common.validation import FieldViolation, InvalidArgument
from services.common.wire import undecodable_field
from services.common.tls_files import reloading_server_credentials

log = get_logger(__name__)
# What keeps a service from starting that is not a bug: a bad setting or file, or a database, broker
# or Vault that refuses or is not there. Each is said in one line; anything else keeps its traceback.
STARTUP_PROBLEMS = (ValueError, OSError, asyncpg.PostgresError, KafkaError, hvac.exceptions.VaultError)


def _client_id(context: grpc.aio.ServicerContext, settings: GrpcSettings) -> str | None:
    if settings.insecure_client_id:
        return settings.insecure_client_id
    names = context.auth_context().get("x509_common_name")
    return names[0].decode() if names else None


class Undecodable(Exception):
    """The request did not parse (e.g. a string that is not UTF-8): the client's fault, named by field."""

    reason = "REQUEST_UNDECODABLE"

    def __init__(self, field: str) -> None:
        super().__init__(f"the request is not a valid message: {field or 'a field'} does not decode"
                         + (" (strings must be UTF-8)" if field else ""))
        self.field = field


def _tolerant(deserialize: Callable[[bytes], object]) -> Callable[[bytes], object]:
    """A parser that hands a refused request to the handler as an error, instead of letting grpc
    answer UNKNOWN for it."""
    descriptor = getattr(getattr(deserialize, "__self__", None), "DESCRIPTOR", None)

    def parse(data: bytes) -> object:
        try:
            return deserialize(data)
        except DecodeError:
            return Undecodable(undecodable_field(descriptor, data) if descriptor else "")
    return parse


def _failure_of(error: Exception, service_errors: ErrorTable) -> Failure | None:
    """Errors every service shares first, then the service's own table; None means a bug."""
    if isinstance(error, auth.Unauthenticated):
        return Failure(grpc.StatusCode.UNAUTHENTICATED, error.reason, str(error))
    if isinstance(error, auth.PermissionDenied):
        return Failure(grpc.StatusCode.PERMISSION_DENIED, error.reason, str(error))
    if isinstance(error, auth.ControllerNotFound):
        return Failure(grpc.StatusCode.NOT_FOUND, error.reason, str(error))
    if isinstance(error, InvalidArgument):
        return Failure(grpc.StatusCode.INVALID_ARGUMENT, error.reason, str(error), error.violations,
                       {"fields": ",".join(sorted({v.field for v in error.violations}))})
    if isinstance(error, Undecodable):
        return Failure(grpc.StatusCode.INVALID_ARGUMENT, error.reason, str(error), [
            FieldViolation(error.field, "string.utf8", "must be valid UTF-8")] if error.field else [])
    return service_errors(error)


def _guard(method: str, handler: grpc.RpcMethodHandler, policy: auth.Policy, settings: GrpcSettings,
           service_errors: ErrorTable, propagate_traces: bool) -> grpc.RpcMethodHandler:
    """Wraps one unary or server-streaming handler: identify and authorize the caller, bind a
    request id, attach the caller's trace, and turn every error into a status with its reason (an
    unexpected one into a bare INTERNAL).

    Without a tracing exporter the OpenTelemetry interceptor is left out (it costs a span per call);
    an incoming traceparent is still attached, so events carry the caller's trace."""
    domain = method.split("/", 1)[0].rsplit(".", 1)[0]  # the proto package, e.g. consentry.consent.v1

    # The steps every call takes, written out in each wrapper below rather than as a context manager:
    # this runs on every call of every RPC, and the context manager's own cost was about a quarter of
    # the Python time of a CheckConsent answered from the cache.
    def enter(context: grpc.aio.ServicerContext) -> object | None:
        """Binds the request id and method for the logs, and attaches the caller's trace (its token)."""
        request_id = traceparent = None
        for key, value in context.invocation_metadata() or ():
            if key == "x-request-id":
                request_id = value
            elif key == "traceparent" and propagate_traces:
                traceparent = value
        bind_call(method, request_id)
        return otel_context.attach(context_from_traceparent(traceparent)) if traceparent else None

    authorized: dict[str, auth.ClientGrant] = {}  # client id -> its grant, once admitted (the policy is fixed)

    def admit(context: grpc.aio.ServicerContext, request: object) -> None:
        client_id = _client_id(context, settings)
        grant = authorized.get(client_id)  # None is never a key: authorize refuses it
        if grant is None:
            grant = authorized[client_id] = policy.authorize(client_id, method)
        auth.bind_client(grant)
        if isinstance(request, Undecodable):
            raise request

    async def refuse(context: grpc.aio.ServicerContext, error: Exception) -> None:
        """Inside the `except` that caught `error`: its status and reason, or a bare INTERNAL for a bug."""
        failure = _failure_of(error, service_errors)
        if failure is None:
            log.exception("unhandled error")
            failure = Failure(grpc.StatusCode.INTERNAL, "INTERNAL", "internal error")
        await abort(context, failure, domain)

    deserialize = _tolerant(handler.request_deserializer)
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def guarded(request, context: grpc.aio.ServicerContext):
            token = enter(context)
            try:
                admit(context, request)
                return await unary(request, context)
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise
            except Exception as error:  # noqa: BLE001 - every error becomes a status, none a traceback
                await refuse(context, error)
            finally:
                if token is not None:
                    otel_context.detach(token)

        return grpc.unary_unary_rpc_method_handler(
            guarded, request_deserializer=deserialize, response_serializer=handler.response_serializer)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def guarded_stream(request, context: grpc.aio.ServicerContext):
            token = enter(context)
            try:
                admit(context, request)
                async for response in stream(request, context):
                    yield response
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise
            except Exception as error:  # noqa: BLE001 - every error becomes a status, none a traceback
                await refuse(context, error)
            finally:
                if token is not None:
                    otel_context.detach(token)

        return grpc.unary_stream_rpc_method_handler(
            guarded_stream, request_deserializer=deserialize, response_serializer=handler.response_serializer)
    raise TypeError(f"{method}: only unary and server-streaming RPCs are served")


class _GuardedGenericHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, guard: Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]):
        self._inner, self._guard = inner, guard
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        guarded = self._cache.get(details.method)
        if guarded is None:
            handler = self._inner.service(details)
            if handler is None:
                return None
            guarded = self._cache[details.method] = self._guard(details.method.lstrip("/"), handler)
        return guarded


class GuardingRegistrar:
    """Stands in for the server while a service registers, so each of its handlers is wrapped once at
    start (cheaper than an interceptor, which runs per call) and none can be registered unguarded."""

    def __init__(self, server: grpc.aio.Server, guard: Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]):
        self._server, self._guard = server, guard

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(tuple(_GuardedGenericHandler(h, self._guard) for h in handlers))

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self._server.add_registered_method_handlers(
            service, {name: self._guard(f"{service}/{name}", h) for name, h in handlers.items()})


class GrpcServer:
    def __init__(self, settings: GrpcSettings, policy: auth.Policy, service_names: list[str],
                 register: Callable[[GuardingRegistrar], None], service_errors: ErrorTable, *,
                 tracing: bool = False) -> None:
        self._settings = settings
        self._server = grpc.aio.server(
            interceptors=[aio_server_interceptor()] if tracing else None,
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
            options=[("grpc.so_reuseport", 0)],
        )
        self._registrar = GuardingRegistrar(self._server, lambda method, handler: _guard(
            method, handler, policy, settings, service_errors, propagate_traces=not tracing))
        register(self._registrar)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._service_names = list(service_names)
        self._before_stop: list[Callable[[], None]] = []
        self.port = self._bind()
        # The health service alone, in plain text: it answers SERVING or NOT_SERVING and nothing else.
        self._probes = grpc.aio.server(maximum_concurrent_rpcs=16, options=[("grpc.so_reuseport", 0)]) \
            if settings.health_listen else None
        self.health_port = 0
        if self._probes is not None:
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._probes)
            self.health_port = self._probes.add_insecure_port(settings.health_listen)

    def before_stop(self, end_streams: Callable[[], None]) -> None:
        """Called once the health is NOT_SERVING: a server stream that never ends by itself ends there,
        so the grace period is not spent waiting for it."""
        self._before_stop.append(end_streams)

    def add_service(self, name: str, register: Callable[[GuardingRegistrar], None]) -> None:
        """Another service on the same port, under the same policy (before `start`)."""
        register(self._registrar)
        self._service_names.append(name)

    def _bind(self) -> int:
        s = self._settings
        if s.insecure_client_id:
            return self._server.add_insecure_port(s.listen)
        if not (s.tls_cert and s.tls_key and s.tls_client_ca):
            raise ValueError("gRPC needs tls_cert, tls_key and tls_client_ca (or insecure_client_id for dev)")
        # Read again at the first handshake after the files change (cert-manager renews them).
        return self._server.add_secure_port(s.listen, reloading_server_credentials(s.tls_key, s.tls_cert,
                                                                                   s.tls_client_ca))

    async def start(self) -> None:
        reflection.enable_server_reflection([*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME],
                                            self._server)
        await self._server.start()
        if self._probes is not None:
            try:
                await self._probes.start()
            except BaseException:
                await self._server.stop(0)
                raise
        for name in ["", *self._service_names]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self) -> None:
        for name in ["", *self._service_names]:
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        for end_streams in self._before_stop:
            end_streams()
        await self._server.stop(self._settings.shutdown_grace_s)
        if self._probes is not None:
            await self._probes.stop(0)


async def run_until_signalled(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
    """Starts, waits for SIGTERM or SIGINT, then stops."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await start()
    except STARTUP_PROBLEMS as error:  # a setting, a file or a dependency that is not right: say which
        log.error("cannot start", error=f"{type(error).__name__}: {error}")
        await stop()
        raise SystemExit(1) from None
    try:
        await stopping.wait()
    finally:
        await stop()


def serve(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]], event_loop: str) -> None:
    """Runs a service on the chosen event loop: uvloop (libuv) halves asyncio's own per-call cost."""
    if event_loop == "uvloop":
        import uvloop
        uvloop.run(run_until_signalled(start, stop))
    else:
        asyncio.run(run_until_signalled(start, stop))
