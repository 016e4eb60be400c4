"""Record sync between provenance databases (redun's GetRecords / PutRecords / IterRecordIds)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain.cache.limits import check_count
from artimeta_server.domain.cache.models import StoredValue, ValueIn
from artimeta_server.domain.cache.ports import NamespaceResolver, RecordSyncRepository
from artimeta_server.domain.cache.sync_codec import dump_record, parse_record
from artimeta_server.domain.cache.sync_models import (
    CallNodeRecord,
    ExecutionRecord,
    IncomingRecord,
    JobRecord,
    RecordBatch,
    TagRecord,
    record_id,
)
from artimeta_server.domain.cache.values import ValueStore


class RecordSync:
    def __init__(
        self,
        repo: RecordSyncRepository,
        values: ValueStore,
        namespaces: NamespaceResolver,
        *,
        wrote: Callable[[int], None] = lambda _ns: None,
    ) -> None:
        self._repo = repo
        self._values = values
        self._ns = namespaces
        # Told after records are written, before the reply: remembered cache hits may be stale.
        self._wrote = wrote

    async def get_records(self, namespace: str, ids: Sequence[str]) -> list[tuple[str, str]]:
        """(id, redun's JSON) of each id found, in the order asked, once each. A value whose bytes
        are gone from the blob store is left out, as if it were not recorded."""
        check_count(len(ids), "ids")
        ns = await self._ns.resolve(namespace)
        wanted = list(dict.fromkeys(ids))
        # Should two kinds share an id, the later kind of the repository's order is the record.
        found = {record_id(r): r for r in await self._repo.get_records(ns, wanted)}
        out = []
        for rid in wanted:
            rec = found.get(rid)
            if rec is None:
                continue
            if isinstance(rec, StoredValue):
                value = await self._values.load(ns, rec)
                if value is None:
                    continue
                out.append((rid, dump_record(rec, value.data)))
            else:
                out.append((rid, dump_record(rec)))
        return out

    async def put_records(self, namespace: str, records: Sequence[tuple[str, str]]) -> int:
        """Inserts the records the namespace lacks (the first of an id wins); returns how many."""
        check_count(len(records), "records")
        parsed = [(rid, parse_record(i, rid, text)) for i, (rid, text) in enumerate(records)]
        ns = await self._ns.resolve(namespace)
        known = set(await self._repo.known_record_ids(ns, [rid for rid, _ in parsed]))
        fresh: dict[str, IncomingRecord] = {}
        for rid, rec in parsed:
            if rid not in known:
                fresh.setdefault(rid, rec)
        batch = await self._batch(ns, list(fresh.values()))
        try:
            return await self._repo.put_records(ns, batch)
        finally:
            self._wrote(ns)

    async def _batch(self, ns: int, records: Sequence[IncomingRecord]) -> RecordBatch:
        call_nodes = [r for r in records if isinstance(r, CallNodeRecord)]
        for node in call_nodes:
            for a in node.arguments:
                ch.check_hash(a.arg_hash, field="arguments.arg_hash")
        return RecordBatch(
            executions=tuple(r for r in records if isinstance(r, ExecutionRecord)),
            jobs=tuple(r for r in records if isinstance(r, JobRecord)),
            call_nodes=tuple(call_nodes),
            values=tuple(await self._values.store(ns, [r for r in records if isinstance(r, ValueIn)])),
            tags=tuple(r for r in records if isinstance(r, TagRecord)),
        )

    async def iter_record_ids(self, namespace: str, roots: Sequence[str]) -> AsyncIterator[list[str]]:
        """The ids reachable from the roots, breadth first, one list per layer, each id once."""
        check_count(len(roots), "root_ids")
        ns = await self._ns.resolve(namespace)
        seen: set[str] = set()
        layer = await self._repo.known_record_ids(ns, list(dict.fromkeys(roots)))
        while layer:
            new = [i for i in dict.fromkeys(layer) if i not in seen]
            if not new:
                return
            seen.update(new)
            yield new
            layer = await self._repo.child_record_ids(ns, new)
