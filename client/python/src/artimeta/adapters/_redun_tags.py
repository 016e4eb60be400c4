"""redun's tags and record sync on TagService and CacheService, mixed into the redun backend."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Iterator, List, Tuple

from redun.backends.base import TagEntity
from redun.utils import MultiMap, json_dumps

from artimeta.adapters import _redun_records as _records
from artimeta.adapters._redun_codec import ENTITY
from artimeta.adapters._redun_parts import BackendParts
from artimeta.v1 import cache_pb2 as cpb
from artimeta.v1 import tags_pb2 as tpb

TagRow = Tuple[str, str, str, Any]
# Records per GetRecords / PutRecords call.
_RECORD_BATCH = 1000


def _kv(tags: Iterable[Tuple[str, Any]]) -> List[tpb.TagKeyValue]:
    return [tpb.TagKeyValue(key=key, value_json=json_dumps(value)) for key, value in tags]


def _rows(tags: Iterable[tpb.Tag]) -> List[TagRow]:
    return [(t.tag_hash, t.entity_id, t.key, json.loads(t.value_json)) for t in tags]


class TagsAndRecords(BackendParts):
    # Tags

    def record_tags(
        self,
        entity_type: TagEntity,
        entity_id: str,
        tags: Iterable[Tuple[str, Any]],
        parents: Iterable[str] = (),
        update: bool = False,
        new: bool = False,
    ) -> List[TagRow]:
        tags = list(tags)
        if not tags:
            return []
        resp = self._reading().tags.record_tags(
            entity_type=ENTITY[entity_type],
            entity_id=entity_id,
            tags=_kv(tags),
            parents=list(parents),
            update=update,
            new=new,
        )
        return _rows(resp.tags)

    def delete_tags(self, entity_id: str, tags: Iterable[Tuple[str, Any]], keys: Iterable[str] = ()) -> List[TagRow]:
        resp = self._reading().tags.delete_tags(entity_id=entity_id, tags=_kv(tags), keys=list(keys))
        return _rows(resp.tags)

    def update_tags(
        self, entity_type: TagEntity, entity_id: str, old_keys: Iterable[str], new_tags: Iterable[Tuple[str, Any]]
    ) -> List[TagRow]:
        resp = self._reading().tags.update_tags(
            entity_type=ENTITY[entity_type], entity_id=entity_id, old_keys=list(old_keys), new_tags=_kv(new_tags)
        )
        return _rows(resp.tags)

    def get_tags(self, entity_ids: List[str]) -> Dict[str, Any]:
        resp = self._reading().tags.get_tags(entity_ids=list(entity_ids))
        out: Dict[str, Any] = {}
        for entity in resp.entities:
            tags = MultiMap()
            for t in entity.tags:
                tags.add(t.key, json.loads(t.value_json))
            out[entity.entity_id] = tags
        return out

    # Records

    def get_records(self, ids: Iterable[str], sorted: bool = True) -> Iterable[dict]:  # type: ignore[type-arg]
        ids = list(ids)
        out: List[dict] = []  # type: ignore[type-arg]
        for i in range(0, len(ids), _RECORD_BATCH):
            resp = self._reading().cache.get_records(ids=ids[i : i + _RECORD_BATCH])
            out += [_records.to_redun(json.loads(r.json), self.type_registry) for r in resp.records]
        return out

    def put_records(self, records: Iterable[dict]) -> int:  # type: ignore[type-arg]
        items = []
        for rec in records:
            ours = _records.from_redun(rec)
            items.append(cpb.CacheRecord(id=_records.record_id(ours), json=json.dumps(ours)))
        created = 0
        for i in range(0, len(items), _RECORD_BATCH):
            created += int(self._reading().cache.put_records(records=items[i : i + _RECORD_BATCH]).created)
        return created

    def iter_record_ids(self, root_ids: Iterable[str]) -> Iterator[str]:
        for batch in self._reading().cache.iter_record_ids(root_ids=list(root_ids)):
            yield from batch.record_ids
