"""The composition root: the storage adapters, the use cases over them, the servicers and the
interceptor chain, built from Settings. Serving them is server.py's job; the commands are in commands/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc

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
from artimeta_server.config import Settings
from artimeta_server.domain import hashing
from artimeta_server.domain.auth.failure_budget import FailureBudget
from artimeta_server.domain.auth.service import Tokens
from artimeta_server.domain.blobs.service import Blobs
from artimeta_server.domain.cache.service import Cache
from artimeta_server.domain.connection.documents import Documents
from artimeta_server.domain.connection.service import Connections
from artimeta_server.domain.fresh import FreshCache
from artimeta_server.domain.listings.service import Listings
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.opstore.service import OpStore
from artimeta_server.domain.records.service import Records
from artimeta_server.domain.request_ids.service import RequestIds
from artimeta_server.domain.tags.service import Tags
from artimeta_server.rpc.auth import AuthInterceptor
from artimeta_server.rpc.blobs import BlobServicer
from artimeta_server.rpc.cache import CacheServicer
from artimeta_server.rpc.connection import ConnectionServicer
from artimeta_server.rpc.errors import ErrorInterceptor
from artimeta_server.rpc.interceptor import WrappingInterceptor
from artimeta_server.rpc.namespaces import NamespaceServicer
from artimeta_server.rpc.observe import ObserveInterceptor
from artimeta_server.rpc.opstore import OpStoreServicer
from artimeta_server.rpc.records import RecordServicer
from artimeta_server.rpc.request_ids import RequestIdInterceptor
from artimeta_server.rpc.tags import TagServicer
from artimeta_server.rpc.validate import ValidateInterceptor
from artimeta_server.storage.auth.repository import PostgresTokens
from artimeta_server.storage.blobs.index import PostgresBlobIndex
from artimeta_server.storage.blobs.s3 import make_client, presigner_for
from artimeta_server.storage.blobs.store import S3BlobStore
from artimeta_server.storage.cache.repositories import postgres_cache_repositories
from artimeta_server.storage.changes import PostgresChangeFeed
from artimeta_server.storage.connection.repository import PostgresConnection
from artimeta_server.storage.listings.repository import PostgresListings
from artimeta_server.storage.namespaces.repository import PostgresNamespaces
from artimeta_server.storage.opstore.repository import PostgresOpStore
from artimeta_server.storage.postgres import Database, translate
from artimeta_server.storage.records.repository import PostgresRecords
from artimeta_server.storage.request_ledger import PostgresRequestLedger
from artimeta_server.storage.tags.repository import PostgresTags


@dataclass(frozen=True, slots=True)
class Domain:
    """The use cases, built once over the storage adapters."""

    db: Database
    # Snapshot tags and namespaces, kept fresh by the change feed (domain/fresh.py).
    fresh: FreshCache[object]
    changes: PostgresChangeFeed
    blob_store: S3BlobStore
    namespaces: Namespaces
    documents: Documents
    tokens: Tokens
    connections: Connections
    cache: Cache
    tags: Tags
    opstore: OpStore
    blobs: Blobs
    records: Records
    listings: Listings
    request_ids: RequestIds


def servicers(domain: Domain) -> list[tuple[str, Callable[[grpc.aio.Server], None]]]:
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
            cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name,
            lambda srv: cache_pb2_grpc.add_CacheServiceServicer_to_server(
                CacheServicer(domain.cache, domain.listings), srv
            ),
        ),
        (
            tags_pb2.DESCRIPTOR.services_by_name["TagService"].full_name,
            lambda srv: tags_pb2_grpc.add_TagServiceServicer_to_server(TagServicer(domain.tags), srv),
        ),
        (
            opstore_pb2.DESCRIPTOR.services_by_name["OpStoreService"].full_name,
            lambda srv: opstore_pb2_grpc.add_OpStoreServiceServicer_to_server(
                OpStoreServicer(domain.opstore, domain.listings), srv
            ),
        ),
        (
            blobs_pb2.DESCRIPTOR.services_by_name["BlobService"].full_name,
            lambda srv: blobs_pb2_grpc.add_BlobServiceServicer_to_server(BlobServicer(domain.blobs), srv),
        ),
        (
            records_pb2.DESCRIPTOR.services_by_name["RecordService"].full_name,
            lambda srv: records_pb2_grpc.add_RecordServiceServicer_to_server(RecordServicer(domain.records), srv),
        ),
    ]


async def build_domain(settings: Settings) -> Domain:
    hashing.configure(settings.hash_threads)
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
    blob_index = PostgresBlobIndex(db)
    blob_store = S3BlobStore(
        client,
        settings.s3_bucket,
        threads=settings.blob_threads,
        mark_in_use=blob_index.add,
        presign_client=presigner_for(settings),
    )
    await db.open()
    try:
        await blob_store.ensure_bucket()
    except BaseException:
        await db.close()
        blob_store.close()
        raise
    fresh: FreshCache[object] = FreshCache(max_bytes=settings.read_cache_bytes, ttl_s=settings.read_cache_ttl_s)
    changes = PostgresChangeFeed(settings.database_url)
    await changes.start(fresh)
    namespaces = Namespaces(PostgresNamespaces(db), blob_store, cache=fresh)
    documents = Documents(blob_store, inline_limit=settings.inline_document_limit, max_size=settings.max_document_bytes)
    blobs = Blobs(
        blob_store,
        blob_index,
        namespaces,
        max_message_bytes=settings.max_message_bytes,
        upload_slots=settings.upload_slots,
        upload_idle_s=settings.upload_idle_timeout_s,
        store_fanout=settings.store_fanout,
    )
    return Domain(
        db=db,
        fresh=fresh,
        changes=changes,
        blob_store=blob_store,
        namespaces=namespaces,
        documents=documents,
        tokens=make_tokens(settings, db),
        connections=Connections(
            PostgresConnection(db),
            namespaces,
            documents,
            fresh=fresh,
            cache_bytes=settings.document_cache_bytes,
            rendered_bytes=settings.reply_cache_bytes,
        ),
        cache=Cache(
            postgres_cache_repositories(db), blob_store, namespaces, max_value_bytes=settings.max_document_bytes
        ),
        tags=Tags(PostgresTags(db), namespaces),
        opstore=OpStore(PostgresOpStore(db), blob_store, namespaces, max_bytes=settings.max_document_bytes),
        blobs=blobs,
        records=Records(PostgresRecords(db), blobs, namespaces),
        listings=Listings(PostgresListings(db), namespaces),
        request_ids=RequestIds(PostgresRequestLedger(db), namespaces, retention_s=settings.request_id_retention_s),
    )


def make_tokens(settings: Settings, db: Database) -> Tokens:
    jwt = None
    if settings.jwt_jwks_file:
        from artimeta_server.jwks import JwksVerifier

        jwt = JwksVerifier(
            settings.jwt_jwks_file,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            roles_claim=settings.jwt_roles_claim,
        )
    return Tokens(
        PostgresTokens(db),
        cache_ttl_s=settings.auth_cache_ttl_s,
        jwt=jwt,
        negative_ttl_s=settings.auth_negative_cache_ttl_s,
        failures=FailureBudget(per_s=settings.auth_failures_per_s, burst=float(settings.auth_failure_burst)),
    )


def interceptors(settings: Settings, domain: Domain) -> list[WrappingInterceptor]:
    """Outermost first: observe sees the final code of every call, errors maps what the
    servicers raise, auth runs next so a refused call never reaches a servicer, and the generic
    request check (rpc/validate.py) runs last, on authenticated calls only. The HTTP port
    runs the same chain around the same handlers."""
    interceptors: list[WrappingInterceptor] = [
        ObserveInterceptor(log_requests=settings.log_requests),
        ErrorInterceptor(translate),
    ]
    if settings.auth != "disabled":
        interceptors.append(AuthInterceptor(domain.tokens, settings.open_services))
    interceptors.append(ValidateInterceptor())
    # Innermost: only an authorised, well-formed call is remembered; errors maps what it replays.
    interceptors.append(RequestIdInterceptor(domain.request_ids))
    return interceptors
