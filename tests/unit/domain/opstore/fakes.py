"""An in-memory OpStoreRepository with the Postgres one's contract (numbers from next_numbers)."""

from __future__ import annotations

from dataclasses import replace

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.opstore.models import OpVersion, next_numbers

_Hashes = tuple[str, str, str]


def _hashes(v: OpVersion) -> _Hashes:
    return v.major, v.minor, v.patch


class FakeOpStoreRepository:
    def __init__(self) -> None:
        # (ns, op) -> versions in registration order; (ns, op, hashes) -> digest
        self.ops: dict[tuple[int, str], list[OpVersion]] = {}
        self.bytes: dict[tuple[int, str, _Hashes], Digest] = {}
        self.links: set[tuple[int, str, str, _Hashes]] = set()
        self.pipelines: dict[tuple[int, str], str] = {}

    async def register(self, downstream: str | None, upstream: str, version: OpVersion, *, ns: int) -> OpVersion:
        versions = self.ops.setdefault((ns, upstream), [])
        stored = next((v for v in versions if _hashes(v) == _hashes(version)), None)
        if stored is None:
            latest = max(versions, key=lambda v: (v.major_number, v.minor_number, v.patch_number), default=None)
            major, minor, patch = next_numbers(latest, version)
            stored = replace(version, major_number=major, minor_number=minor, patch_number=patch)
            versions.append(stored)
        if downstream is not None:
            self.ops.setdefault((ns, downstream), [])
            self.links.add((ns, downstream, upstream, _hashes(stored)))
        return stored

    async def versions(self, ns: int, op_name: str) -> list[OpVersion]:
        return sorted(self.ops.get((ns, op_name), []), key=lambda v: v.creation_time)

    async def validated(self, ns: int, downstream: str, upstream: str) -> list[OpVersion]:
        linked = {h for (n, d, u, h) in self.links if (n, d, u) == (ns, downstream, upstream)}
        return [v for v in await self.versions(ns, upstream) if _hashes(v) in linked]

    async def find_version(
        self, ns: int, op_name: str, version: OpVersion
    ) -> tuple[bool, OpVersion | None, Digest | None]:
        versions = self.ops.get((ns, op_name))
        if versions is None:
            return False, None, None
        stored = next((v for v in versions if _hashes(v) == _hashes(version)), None)
        if stored is None:
            return True, None, None
        return True, stored, self.bytes.get((ns, op_name, _hashes(version)))

    async def set_bytes(self, ns: int, op_name: str, version: OpVersion, digest: Digest) -> bool:
        if not any(_hashes(v) == _hashes(version) for v in self.ops.get((ns, op_name), [])):
            return False
        self.bytes[(ns, op_name, _hashes(version))] = digest
        return True

    async def pipeline_exists(self, ns: int, name: str) -> bool:
        return (ns, name) in self.pipelines

    async def register_pipeline(self, ns: int, name: str, last_op: str) -> None:
        self.ops.setdefault((ns, last_op), [])
        self.pipelines[(ns, name)] = last_op
