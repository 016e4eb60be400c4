"""The op store's use cases with chariots' documented intent: idempotent links and pipelines,
precise errors, bytes written before the row that points at them."""

from __future__ import annotations

import math
import re

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain.blobs.ports import BlobStore
from artimeta_server.domain.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.opstore.models import MAX_NAME, OpVersion
from artimeta_server.domain.opstore.ports import OpStoreRepository
from artimeta_server.domain.reasons import Reason

_HASH = re.compile(r"^[^._\x00]{1,128}$")


def _name(value: str, field: str) -> str:
    return ch.check_text(value, field=field, max_len=MAX_NAME)


def _version(v: OpVersion, field: str) -> OpVersion:
    for part, value in (("major", v.major), ("minor", v.minor), ("patch", v.patch)):
        if not _HASH.match(value):
            raise InvalidArgument(
                f"{field}.{part} must be 1 to 128 characters without '.' or '_'",
                reason=Reason.INVALID_VERSION,
                metadata={"field": f"{field}.{part}"},
            )
    if not math.isfinite(v.creation_time):
        raise InvalidArgument(
            f"{field}.creation_time is not finite", reason=Reason.INVALID_VERSION, metadata={"field": field}
        )
    return v


class OpStore:
    def __init__(self, repo: OpStoreRepository, blobs: BlobStore, namespaces: Namespaces, *, max_bytes: int) -> None:
        self._repo = repo
        self._blobs = blobs
        self._ns = namespaces
        self.max_bytes = max_bytes

    async def register_valid_link(
        self, namespace: str, downstream: str, upstream: str, version: OpVersion
    ) -> OpVersion:
        if downstream:
            _name(downstream, "downstream_op_name")
        _name(upstream, "upstream_op_name")
        _version(version, "upstream_version")
        ns = await self._ns.resolve(namespace)
        return await self._repo.register(downstream or None, upstream, version, ns=ns)

    async def versions(self, namespace: str, op_name: str) -> list[OpVersion]:
        _name(op_name, "op_name")
        ns = await self._ns.resolve(namespace)
        return await self._repo.versions(ns, op_name)

    async def validated_links(self, namespace: str, downstream: str, upstream: str) -> list[OpVersion]:
        _name(downstream, "downstream_op_name")
        _name(upstream, "upstream_op_name")
        ns = await self._ns.resolve(namespace)
        return await self._repo.validated(ns, downstream, upstream)

    async def save_bytes(self, namespace: str, op_name: str, version: OpVersion, data: bytes) -> None:
        _name(op_name, "op_name")
        _version(version, "version")
        if len(data) > self.max_bytes:
            raise InvalidArgument(
                f"op_bytes is {len(data)} bytes; at most {self.max_bytes}",
                reason=Reason.OP_BYTES_TOO_LARGE,
                metadata={"limit": str(self.max_bytes)},
            )
        ns = await self._ns.resolve(namespace)
        await self._registered(ns, op_name, version)
        # Bytes first, then the row that points at them.
        digest = await self._blobs.put(ns, data)
        if not await self._repo.set_bytes(ns, op_name, version, digest):
            await self._registered(ns, op_name, version)

    async def _registered(self, ns: int, op_name: str, version: OpVersion) -> OpVersion:
        op_known, stored, _ = await self._repo.find_version(ns, op_name, version)
        if not op_known:
            raise FailedPrecondition(
                f"op {op_name!r} is not registered; register a version before saving its bytes",
                reason=Reason.OP_NOT_REGISTERED,
                metadata={"op_name": op_name},
            )
        if stored is None:
            raise FailedPrecondition(
                f"version {version.major}.{version.minor}.{version.patch} of op {op_name!r} is not registered",
                reason=Reason.VERSION_NOT_REGISTERED,
                metadata={"op_name": op_name},
            )
        return stored

    async def load_bytes(self, namespace: str, op_name: str, version: OpVersion) -> tuple[OpVersion, bytes]:
        _name(op_name, "op_name")
        _version(version, "version")
        ns = await self._ns.resolve(namespace)
        op_known, stored, digest = await self._repo.find_version(ns, op_name, version)
        meta = {"op_name": op_name}
        if not op_known:
            raise NotFound(f"op {op_name!r} not found", reason=Reason.OP_NOT_FOUND, metadata=meta)
        if stored is None:
            raise NotFound(
                f"this version of op {op_name!r} is not registered", reason=Reason.VERSION_NOT_FOUND, metadata=meta
            )
        if digest is None:
            raise NotFound(
                f"no bytes were saved for this version of {op_name!r}", reason=Reason.OP_BYTES_NOT_FOUND, metadata=meta
            )
        try:
            return stored, await self._blobs.get(ns, digest)
        except (NotFound, DataLoss) as exc:
            raise NotFound(
                f"the bytes of this version of {op_name!r} are gone from the blob store",
                reason=Reason.OP_BYTES_NOT_FOUND,
                metadata=meta,
            ) from exc

    async def pipeline_exists(self, namespace: str, name: str) -> bool:
        _name(name, "pipeline_name")
        ns = await self._ns.resolve(namespace)
        return await self._repo.pipeline_exists(ns, name)

    async def register_pipeline(self, namespace: str, name: str, last_op: str) -> None:
        _name(name, "pipeline_name")
        _name(last_op, "last_op_name")
        ns = await self._ns.resolve(namespace)
        await self._repo.register_pipeline(ns, name, last_op)
