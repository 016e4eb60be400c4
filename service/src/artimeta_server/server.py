"""One artimeta server process: its ports, the gRPC, health, HTTP and metrics servers over the
use cases app.py builds, the upkeep loops, and a graceful stop."""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from typing import Any, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from artimeta_server import __version__, app, metrics, ports, tls, tracing
from artimeta_server.config import Settings
from artimeta_server.domain.auth.models import ALL_NAMESPACES
from artimeta_server.domain.errors import DomainError
from artimeta_server.rpc import access, connect, http
from artimeta_server.rpc.http_limits import HttpLimits
from artimeta_server.rpc.interceptor import PrewrappingServer
from artimeta_server.storage import migrate, stats
from artimeta_server.storage.postgres import translate

# How long the console header's figures for one scope are reused.
INFO_TTL_S = 5.0

# The name operators already filter on for "serving" and "shutting down".
log = logging.getLogger("artimeta.app")


# Each stream's flow-control window, fixed: wide enough for one upload chunk in flight at a
# millisecond of round trip, narrow enough that streams waiting for an upload slot buffer little.
STREAM_WINDOW_BYTES = 8 * 1024 * 1024


class SchemaOutOfDate(RuntimeError):
    pass


def listeners(settings: Settings, *, metrics_port: bool = True) -> list[tuple[str, str]]:
    """(what, host:port) of every port a server with these settings opens."""
    s = settings
    named = [("gRPC", s.listen), ("health", s.health_listen), ("HTTP", s.http_listen)]
    if metrics_port:
        named.append(("metrics", s.metrics_listen))
    return [(what, listen) for what, listen in named if listen]


def check_ports(settings: Settings, *, metrics_port: bool = True) -> None:
    """PortInUse for the first of the server's ports another process listens on."""
    for what, listen in listeners(settings, metrics_port=metrics_port):
        ports.check_free(listen, what)


class Server:
    """One artimeta server process: start, serve, stop gracefully.

    Its ports are its own (ports.py): a port another process listens on is refused with PortInUse.
    `share_ports` is only for the workers of one `serve --workers N`, whose supervisor checked
    the ports are free before starting them."""

    def __init__(self, settings: Settings, *, share_ports: bool = False) -> None:
        self.settings = settings
        self.share_ports = share_ports
        self.port = 0
        self._grpc: grpc.aio.Server | None = None
        self._health_grpc: grpc.aio.Server | None = None
        self.health_port = 0
        self._health = health.aio.HealthServicer()
        self.domain: app.Domain | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._gauges: asyncio.Task[None] | None = None
        self._service_names: list[str] = []
        self._http: http.HttpServer | None = None
        self.http_port = 0
        self._serving = False
        self._metrics_httpd: Any = None
        self.metrics_port = 0
        self._info_cache: dict[tuple[str, ...] | None, tuple[float, dict[str, Any]]] = {}

    async def start(self, *, migrate_schema: bool = False) -> int:
        s = self.settings
        s.validate_serving()
        self._check_ports()
        if s.otlp_endpoint and not tracing.enabled():
            tracing.setup(s.otlp_endpoint, service_name=s.service_name, insecure=s.otlp_insecure)
        if migrate_schema:
            applied = await migrate.migrate(s.database_url)
            if applied:
                log.info("applied migrations %s", [f"{m.version:04d}_{m.name}" for m in applied])
        self.domain = await app.build_domain(s)
        try:
            async with self.domain.db.connection() as conn:
                todo = await migrate.pending(conn)
                metrics.SCHEMA_VERSION.set(await migrate.current_version(conn))
            if todo:
                raise SchemaOutOfDate(
                    f"the database schema is out of date ({len(todo)} migrations pending); "
                    "run `artimeta-server migrate` or start with --migrate"
                )
            self._grpc = self._make_server()
            creds = (
                None if s.plaintext else tls.server_credentials(s.tls_cert_file, s.tls_key_file, s.tls_client_ca_file)
            )
            self.port = self._bind_grpc(self._grpc, s.listen, "gRPC", creds)
            await self._grpc.start()
            if s.health_listen:
                self._health_grpc = grpc.aio.server(options=[self._reuseport_option()])
                health_pb2_grpc.add_HealthServicer_to_server(self._health, self._health_grpc)
                self.health_port = self._bind_grpc(self._health_grpc, s.health_listen, "health", None)
                await self._health_grpc.start()
            if s.http_listen:
                self._http = await self._make_http()
                self.http_port = await self._http.start()
            if s.metrics_listen and not metrics.in_multiprocess_mode():
                try:
                    self._metrics_httpd, self.metrics_port = metrics.serve(s.metrics_listen)
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        raise ports.PortInUse("metrics", s.metrics_listen, ports.split(s.metrics_listen)[1]) from None
                    raise
        except BaseException:
            for srv in (self._grpc, self._health_grpc):
                if srv is not None:
                    await srv.stop(0)
            self._grpc = self._health_grpc = None
            await self._close_domain()
            raise
        for name in ["", *self._service_names]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._serving = True
        self._janitor = asyncio.create_task(self._janitor_loop(), name="artimeta-janitor")
        self._gauges = asyncio.create_task(self._gauge_loop(), name="artimeta-gauges")
        log.info(
            "serving",
            extra={
                "listen": s.listen,
                "port": self.port,
                "http_port": self.http_port or None,
                "tls": not s.plaintext,
                "mtls": bool(s.tls_client_ca_file),
                "auth": s.auth,
                "metrics_port": self.metrics_port,
            },
        )
        return self.port

    def _check_ports(self) -> None:
        """Fails fast, before the database is touched, with the port named. The binds below stay
        exclusive, so a server that takes the port meanwhile is refused there all the same."""
        if not self.share_ports:
            check_ports(self.settings, metrics_port=not metrics.in_multiprocess_mode())

    def _reuseport_option(self) -> tuple[str, int]:
        # grpc turns SO_REUSEPORT on unless told otherwise (FIELD-NOTES).
        return ("grpc.so_reuseport", 1 if self.share_ports else 0)

    def _bind_grpc(self, server: grpc.aio.Server, listen: str, what: str, creds: grpc.ServerCredentials | None) -> int:
        try:
            port = server.add_insecure_port(listen) if creds is None else server.add_secure_port(listen, creds)
        except RuntimeError:  # grpc's "Failed to bind to address"
            port = 0
        if port == 0:
            if not self.share_ports:
                ports.check_free(listen, what)  # taken since _check_ports: say so
            raise OSError(f"could not bind the {what} port {listen}")
        return port

    async def _make_http(self) -> http.HttpServer:
        """Connect + gRPC-Web over the same servicers (the same `app.servicers()` table) behind the same
        interceptors as the gRPC port; health; console."""
        assert self.domain is not None
        methods = await connect.applications(
            app.servicers(self.domain),
            translate,
            interceptors=app.interceptors(self.settings, self.domain),
            read_max_bytes=self.settings.max_message_bytes,
        )
        s = self.settings
        auth_on = s.auth != "disabled"
        site = http.site(
            methods,
            self._is_serving,
            self._info,
            authenticate=self.domain.tokens.authenticate if auth_on else None,
            is_open=lambda path: access.rule_for(path).open or path.lstrip("/").partition("/")[0] in s.open_services,
        )
        tls = None if s.plaintext else http.ReloadingTLS(s.tls_cert_file, s.tls_key_file, s.tls_client_ca_file)
        limits = HttpLimits(
            max_connections=s.http_max_connections,
            header_timeout_s=s.http_header_timeout_s,
            body_timeout_s=s.http_body_timeout_s,
            max_header_bytes=s.http_max_header_bytes,
            keepalive_s=s.http_keepalive_s,
        )
        return http.HttpServer(
            site, s.http_listen, graceful_s=s.shutdown_grace_s, tls=tls, limits=limits, share_port=self.share_ports
        )

    def _is_serving(self, service: str) -> bool | None:
        if service and service not in self._service_names:
            return None
        return self._serving

    async def _info(self, authorization: str, peer: str) -> dict[str, Any]:
        """The console's header: versions and services for anyone; row counts for a valid token
        when auth is on, of the namespaces it may see (a "*" grant: the whole database, estimated).
        Each scope's figures are kept a few seconds, so reloading consoles cost no queries."""
        assert self.domain is not None
        out: dict[str, Any] = {
            "server_version": __version__,
            "services": self._service_names,
            "auth": self.settings.auth,
        }
        scope: tuple[str, ...] | None = None
        if self.settings.auth != "disabled":
            scheme, _, token = authorization.partition(" ")
            try:
                principal = await self.domain.tokens.authenticate(
                    token.strip() if scheme.lower() == "bearer" else "", peer
                )
            except DomainError:
                return out
            names = {g.namespace for g in principal.grants}
            scope = None if ALL_NAMESPACES in names else tuple(sorted(names))
        now = time.monotonic()
        hit = self._info_cache.get(scope)
        if hit is None or hit[0] <= now:
            if len(self._info_cache) >= 256:
                self._info_cache.clear()
            hit = (now + INFO_TTL_S, await stats.overview(self.domain.db, scope))
            self._info_cache[scope] = hit
        return {**out, **hit[1]}

    def _make_server(self) -> grpc.aio.Server:
        s = self.settings
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", s.max_message_bytes),
            ("grpc.max_send_message_length", s.max_message_bytes),
            ("grpc.keepalive_time_ms", int(s.keepalive_time_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(s.keepalive_timeout_s * 1000)),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
            self._reuseport_option(),
            # With bandwidth probing, gRPC widens each stream's flow-control window far past what
            # the handler has read, so an upload waiting for its slot is buffered here anyway
            # (8 parallel 64 MiB uploads, 2 slots: peak RSS +260..550 MiB with it, +135 MiB
            # without, +190 MiB with the fixed 8 MiB window below).
            ("grpc.http2.bdp_probe", 0),
            ("grpc.http2.lookahead_bytes", STREAM_WINDOW_BYTES),
        ]
        grpc_server = grpc.aio.server(options=options)
        # Handlers are wrapped by the interceptors once, as they are added (rpc/interceptor.py).
        assert self.domain is not None
        server = cast(grpc.aio.Server, PrewrappingServer(grpc_server, app.interceptors(self.settings, self.domain)))
        for name, add in app.servicers(self.domain):
            add(server)
            self._service_names.append(name)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        # What reflection.enable_server_reflection does for a grpc.aio.Server (it checks the type).
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(
                [
                    *self._service_names,
                    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                    reflection.SERVICE_NAME,
                ]
            ),
            server,
        )
        return grpc_server

    async def _janitor_loop(self) -> None:
        """Finishes work a failure left behind (blobs of deleted namespaces), on every replica."""
        while True:
            try:
                if self.domain is not None:
                    purged = await self.domain.namespaces.purge_tombstones()
                    if purged:
                        log.info("purged blobs of deleted namespaces", extra={"blobs": purged})
                    forgotten = await self.domain.request_ids.forget_expired()
                    if forgotten:
                        log.info("forgot expired request ids", extra={"requests": forgotten})
            except Exception as exc:  # noqa: BLE001 - retried on the next round
                log.warning("janitor round failed: %s", exc)
            await asyncio.sleep(self.settings.janitor_interval_s)

    async def _gauge_loop(self) -> None:
        while True:
            if self.domain is not None:
                size, in_use, limit = self.domain.db.pool_stats()
                metrics.DB_POOL_SIZE.set(size)
                metrics.DB_POOL_IN_USE.set(in_use)
                metrics.DB_POOL_MAX.set(limit)
            await asyncio.sleep(1.0)

    async def wait(self) -> None:
        assert self._grpc is not None
        await self._grpc.wait_for_termination()

    async def stop(self, grace_s: float | None = None) -> None:
        """Health turns NOT_SERVING first so balancers stop sending; in-flight calls get the grace period."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        await self._health.enter_graceful_shutdown()
        self._serving = False
        for task in (self._janitor, self._gauges):
            if task is not None:
                task.cancel()
        self._janitor = self._gauges = None
        stops = []
        if self._http is not None:
            stops.append(self._http.stop())
        if self._grpc is not None:
            stops.append(self._grpc.stop(grace))
        await asyncio.gather(*stops)
        self._http = None
        self._grpc = None
        if self._health_grpc is not None:
            await self._health_grpc.stop(0)
            self._health_grpc = None
        await self._close_domain()

    async def _close_domain(self) -> None:
        if self._metrics_httpd is not None:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()
            self._metrics_httpd = None
        if self.domain is not None:
            await self.domain.changes.close()
            await self.domain.db.close()
            self.domain.blob_store.close()
            self.domain = None
