"""Wiring: pool, blob store, repositories, use cases, servicers, health, reflection, shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from artimeta.v1 import (
    blobs_pb2,
    blobs_pb2_grpc,
    cache_pb2,
    cache_pb2_grpc,
    connection_pb2,
    connection_pb2_grpc,
    namespace_pb2,
    namespace_pb2_grpc,
    opstore_pb2,
    opstore_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
    tags_pb2,
    tags_pb2_grpc,
)
from artimeta_server import __version__
from artimeta_server.config import Settings
from artimeta_server.domain.blobs import Blobs
from artimeta_server.domain.cache import Cache
from artimeta_server.domain.connection import Connections
from artimeta_server.domain.documents import Documents
from artimeta_server.domain.namespaces import Namespaces
from artimeta_server.domain.opstore import OpStore
from artimeta_server.domain.records import Records
from artimeta_server.domain.tags import Tags
from artimeta_server.rpc import connect, http
from artimeta_server.rpc.blobs import BlobServicer
from artimeta_server.rpc.cache import CacheServicer
from artimeta_server.rpc.connection import ConnectionServicer
from artimeta_server.rpc.errors import ErrorInterceptor
from artimeta_server.rpc.namespaces import NamespaceServicer
from artimeta_server.rpc.opstore import OpStoreServicer
from artimeta_server.rpc.records import RecordServicer
from artimeta_server.rpc.tags import TagServicer
from artimeta_server.storage import migrate, stats
from artimeta_server.storage.blob_index import PostgresBlobIndex
from artimeta_server.storage.blobstore import S3BlobStore, make_client
from artimeta_server.storage.cache import PostgresCache
from artimeta_server.storage.connection import PostgresConnection
from artimeta_server.storage.namespaces import PostgresNamespaces
from artimeta_server.storage.opstore import PostgresOpStore
from artimeta_server.storage.postgres import Database, translate
from artimeta_server.storage.records import PostgresRecords
from artimeta_server.storage.tags import PostgresTags

log = logging.getLogger("artimeta.app")


class SchemaOutOfDate(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Domain:
    """The use cases, built once over the storage adapters."""

    db: Database
    blobs: S3BlobStore
    namespaces: Namespaces
    documents: Documents
    connections: Connections
    blob_service: Blobs
    records: Records
    cache: Cache
    tags: Tags
    opstore: OpStore


def _servicers(domain: Domain) -> list[tuple[str, Callable[[grpc.aio.Server], None]]]:
    """Every artimeta.v1 service: its full name and how to add its servicer to a server.
    One line a service; the servicer gets the use cases it needs from `domain`."""
    return [
        (
            namespace_pb2.DESCRIPTOR.services_by_name["NamespaceService"].full_name,
            lambda srv: namespace_pb2_grpc.add_NamespaceServiceServicer_to_server(
                NamespaceServicer(domain.namespaces), srv
            ),
        ),
        (
            connection_pb2.DESCRIPTOR.services_by_name["ConnectionService"].full_name,
            lambda srv: connection_pb2_grpc.add_ConnectionServiceServicer_to_server(
                ConnectionServicer(domain.connections), srv
            ),
        ),
        (
            blobs_pb2.DESCRIPTOR.services_by_name["BlobService"].full_name,
            lambda srv: blobs_pb2_grpc.add_BlobServiceServicer_to_server(BlobServicer(domain.blob_service), srv),
        ),
        (
            records_pb2.DESCRIPTOR.services_by_name["RecordService"].full_name,
            lambda srv: records_pb2_grpc.add_RecordServiceServicer_to_server(RecordServicer(domain.records), srv),
        ),
        (
            cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name,
            lambda srv: cache_pb2_grpc.add_CacheServiceServicer_to_server(CacheServicer(domain.cache), srv),
        ),
        (
            tags_pb2.DESCRIPTOR.services_by_name["TagService"].full_name,
            lambda srv: tags_pb2_grpc.add_TagServiceServicer_to_server(TagServicer(domain.tags), srv),
        ),
        (
            opstore_pb2.DESCRIPTOR.services_by_name["OpStoreService"].full_name,
            lambda srv: opstore_pb2_grpc.add_OpStoreServiceServicer_to_server(OpStoreServicer(domain.opstore), srv),
        ),
    ]


async def build_domain(settings: Settings) -> Domain:
    db = Database(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        acquire_timeout_s=settings.db_acquire_timeout_s,
        statement_timeout_s=settings.db_statement_timeout_s,
    )
    client = make_client(
        settings.s3_endpoint,
        settings.s3_access_key,
        settings.s3_secret_key,
        secure=settings.s3_secure,
        region=settings.s3_region or None,
        max_connections=settings.blob_threads,
        timeout_s=settings.s3_timeout_s,
    )
    blobs = S3BlobStore(client, settings.s3_bucket, threads=settings.blob_threads)
    await db.open()
    try:
        await blobs.ensure_bucket()
    except BaseException:
        await db.close()
        blobs.close()
        raise
    namespaces = Namespaces(PostgresNamespaces(db), blobs, cache_ttl_s=settings.namespace_cache_ttl_s)
    documents = Documents(blobs, inline_limit=settings.inline_document_limit, max_size=settings.max_document_bytes)
    blob_service = Blobs(blobs, PostgresBlobIndex(db), namespaces, max_message_bytes=settings.max_message_bytes)
    return Domain(
        db=db,
        blobs=blobs,
        namespaces=namespaces,
        documents=documents,
        connections=Connections(PostgresConnection(db), namespaces, documents),
        blob_service=blob_service,
        records=Records(PostgresRecords(db), blob_service, namespaces),
        cache=Cache(PostgresCache(db), blobs, namespaces, max_value_bytes=settings.max_document_bytes),
        tags=Tags(PostgresTags(db), namespaces),
        opstore=OpStore(PostgresOpStore(db), blobs, namespaces, max_bytes=settings.max_document_bytes),
    )


class Server:
    """One artimeta server process: start, serve, stop gracefully."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        self._grpc: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self.domain: Domain | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._service_names: list[str] = []
        self._http: http.HttpServer | None = None
        self.http_port = 0
        self._serving = False

    async def start(self, *, migrate_schema: bool = False) -> int:
        s = self.settings
        if migrate_schema:
            applied = await migrate.migrate(s.database_url)
            if applied:
                log.info("applied migrations %s", [f"{m.version:04d}_{m.name}" for m in applied])
        self.domain = await build_domain(s)
        try:
            async with self.domain.db.connection() as conn:
                todo = await migrate.pending(conn)
            if todo:
                raise SchemaOutOfDate(
                    f"the database schema is out of date ({len(todo)} migrations pending); "
                    "run `artimeta-server migrate` or start with --migrate"
                )
            self._grpc = self._make_server()
            self.port = self._grpc.add_insecure_port(s.listen)
            if self.port == 0:
                raise OSError(f"could not bind {s.listen}")
            await self._grpc.start()
            if s.http_listen:
                self._http = await self._make_http()
                self.http_port = await self._http.start()
        except BaseException:
            if self._grpc is not None:
                await self._grpc.stop(0)
                self._grpc = None
            await self._close_domain()
            raise
        for name in ["", *self._service_names]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._serving = True
        self._janitor = asyncio.create_task(self._janitor_loop(), name="artimeta-janitor")
        log.info("serving", extra={"listen": s.listen, "port": self.port, "http_port": self.http_port or None})
        return self.port

    async def _make_http(self) -> http.HttpServer:
        """Connect + gRPC-Web over the same servicers (the same `_servicers()` table) behind the same
        interceptors as the gRPC port; health; console."""
        assert self.domain is not None
        methods = await connect.applications(
            _servicers(self.domain),
            translate,
            interceptors=self._interceptors(),
            read_max_bytes=self.settings.max_message_bytes,
        )
        site = http.site(methods, self._is_serving, self._info)
        return http.HttpServer(site, self.settings.http_listen, graceful_s=self.settings.shutdown_grace_s)

    def _is_serving(self, service: str) -> bool | None:
        if service and service not in self._service_names:
            return None
        return self._serving

    async def _info(self) -> dict[str, Any]:
        assert self.domain is not None
        return {"server_version": __version__, "services": self._service_names, **await stats.overview(self.domain.db)}

    def _interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """Outermost first; the HTTP port runs the same chain around the same handlers."""
        return [ErrorInterceptor(translate)]

    def _make_server(self) -> grpc.aio.Server:
        s = self.settings
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", s.max_message_bytes),
            ("grpc.max_send_message_length", s.max_message_bytes),
            ("grpc.keepalive_time_ms", int(s.keepalive_time_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(s.keepalive_timeout_s * 1000)),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
        server = grpc.aio.server(interceptors=self._interceptors(), options=options)
        assert self.domain is not None
        for name, add in _servicers(self.domain):
            add(server)
            self._service_names.append(name)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            [*self._service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            server,
        )
        return server

    async def _janitor_loop(self) -> None:
        """Finishes work a failure left behind (blobs of deleted namespaces), on every replica."""
        while True:
            try:
                if self.domain is not None:
                    purged = await self.domain.namespaces.purge_tombstones()
                    if purged:
                        log.info("purged blobs of deleted namespaces", extra={"blobs": purged})
            except Exception as exc:  # noqa: BLE001 - retried on the next round
                log.warning("janitor round failed: %s", exc)
            await asyncio.sleep(self.settings.janitor_interval_s)

    async def wait(self) -> None:
        assert self._grpc is not None
        await self._grpc.wait_for_termination()

    async def stop(self, grace_s: float | None = None) -> None:
        """Health turns NOT_SERVING first so balancers stop sending; in-flight calls get the grace period."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        await self._health.enter_graceful_shutdown()
        self._serving = False
        if self._janitor is not None:
            self._janitor.cancel()
            self._janitor = None
        stops = []
        if self._http is not None:
            stops.append(self._http.stop())
        if self._grpc is not None:
            stops.append(self._grpc.stop(grace))
        await asyncio.gather(*stops)
        self._http = None
        self._grpc = None
        await self._close_domain()

    async def _close_domain(self) -> None:
        if self.domain is not None:
            await self.domain.db.close()
            self.domain.blobs.close()
            self.domain = None


async def serve_forever(settings: Settings, *, migrate_schema: bool) -> None:
    import signal

    server = Server(settings)
    await server.start(migrate_schema=migrate_schema)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    await server.stop()
