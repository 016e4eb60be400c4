"""Tag use cases: redun's model of immutable tags superseded through edit edges."""

from __future__ import annotations

from collections.abc import Sequence

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.pagination import Page, decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason
from artimeta_server.domain.tags.models import ENTITY_TYPES, NewTag, Tag
from artimeta_server.domain.tags.ports import TagRepository, TagUnit

MAX_TAGS = 10_000
MAX_KEY = 1024
MAX_VALUE_JSON = 1 << 20


def _entity_type(value: str, *, allow_null: bool = True) -> str:
    if value not in ENTITY_TYPES or (value == "Null" and not allow_null):
        raise InvalidArgument(
            f"unknown entity type {value!r}", reason=Reason.INVALID_ENTITY_TYPE, metadata={"field": "entity_type"}
        )
    return value


def _pairs(tags: Sequence[tuple[str, str]], *, field: str) -> list[tuple[str, str]]:
    if len(tags) > MAX_TAGS:
        raise InvalidArgument(
            f"{len(tags)} tags; at most {MAX_TAGS}", reason=Reason.TOO_MANY_ITEMS, metadata={"field": field}
        )
    out = []
    for key, value_json in tags:
        ch.check_text(key, field=f"{field}.key", required=False, max_len=MAX_KEY)
        if len(value_json) > MAX_VALUE_JSON:
            raise InvalidArgument(
                f"{field}.value_json is {len(value_json)} bytes; at most {MAX_VALUE_JSON}",
                reason=Reason.FIELD_TOO_LONG,
                metadata={"field": f"{field}.value_json"},
            )
        out.append((key, ch.canonical_json(value_json or "null", field=f"{field}.value_json")[0]))
    return out


class Tags:
    def __init__(self, repo: TagRepository, namespaces: Namespaces) -> None:
        self._repo = repo
        self._ns = namespaces

    async def record(
        self,
        namespace: str,
        entity_type: str,
        entity_id: str,
        tags: Sequence[tuple[str, str]],
        parents: Sequence[str] = (),
        *,
        update: bool = False,
        new: bool = False,
    ) -> list[Tag]:
        _entity_type(entity_type)
        ch.check_text(entity_id, field="entity_id", required=entity_type != "Null")
        pairs = _pairs(tags, field="tags")
        ch.check_hashes(parents, field="parents")
        ns = await self._ns.resolve(namespace)
        if not pairs:
            return []
        async with self._repo.unit(ns, entity_id) as unit:
            writes = await self._record(unit, entity_type, entity_id, pairs, list(parents), update, new)
            return await unit.rows([w.tag_hash for w in writes])

    async def _record(
        self,
        unit: TagUnit,
        entity_type: str,
        entity_id: str,
        pairs: list[tuple[str, str]],
        parents: list[str],
        update: bool,
        new: bool,
    ) -> list[NewTag]:
        if update:
            parents = parents + await unit.current_hashes([key for key, _ in pairs])
            new = True
        parents = sorted(parents)
        writes = [
            NewTag(ch.tag_hash(entity_id, key, value, parents), entity_type, entity_id, key, value)
            for key, value in pairs
        ]
        if new:
            # A tag identical to one already superseded would come back as not current: walk down
            # its edit chain (each step a new parent, so a new hash) until a leaf is written.
            gone = await unit.superseded([w.tag_hash for w in writes])
            for w in writes:
                if w.tag_hash in gone:
                    await self._record(unit, entity_type, entity_id, [(w.key, w.value_json)], [w.tag_hash], False, True)
            writes = [w for w in writes if w.tag_hash not in gone]
        await unit.write(writes, parents)
        return writes

    async def delete(
        self, namespace: str, entity_id: str, tags: Sequence[tuple[str, str]], keys: Sequence[str] = ()
    ) -> list[Tag]:
        ch.check_text(entity_id, field="entity_id")
        pairs = _pairs(tags, field="tags")
        for key in keys:
            ch.check_text(key, field="keys", required=False, max_len=MAX_KEY)
        ns = await self._ns.resolve(namespace)
        async with self._repo.unit(ns, entity_id) as unit:
            parents = await unit.matching_current(pairs, list(keys))
            writes = await self._record(unit, "Null", "", [("", "null")], parents, False, False)
            return await unit.rows([w.tag_hash for w in writes])

    async def update(
        self,
        namespace: str,
        entity_type: str,
        entity_id: str,
        old_keys: Sequence[str],
        new_tags: Sequence[tuple[str, str]],
    ) -> list[Tag]:
        _entity_type(entity_type)
        ch.check_text(entity_id, field="entity_id")
        pairs = _pairs(new_tags, field="new_tags")
        ns = await self._ns.resolve(namespace)
        if not pairs:
            return []
        async with self._repo.unit(ns, entity_id) as unit:
            parents = await unit.current_hashes(list(old_keys))
            writes = await self._record(unit, entity_type, entity_id, pairs, parents, False, False)
            return await unit.rows([w.tag_hash for w in writes])

    async def get(self, namespace: str, entity_ids: Sequence[str]) -> dict[str, list[Tag]]:
        if len(entity_ids) > MAX_TAGS:
            raise InvalidArgument(
                f"{len(entity_ids)} entity ids; at most {MAX_TAGS}",
                reason=Reason.TOO_MANY_ITEMS,
                metadata={"field": "entity_ids"},
            )
        ns = await self._ns.resolve(namespace)
        out: dict[str, list[Tag]] = {}
        for row in await self._repo.get_current(ns, list(dict.fromkeys(entity_ids))):
            out.setdefault(row.entity_id, []).append(row)
        return out

    async def history(self, namespace: str, entity_id: str, key: str) -> list[Tag]:
        ch.check_text(entity_id, field="entity_id")
        ch.check_text(key, field="key", required=False, max_len=MAX_KEY)
        ns = await self._ns.resolve(namespace)
        return await self._repo.history(ns, entity_id, key)

    async def search(
        self, namespace: str, key: str, value_json: str | None, entity_type: str | None, requested: int, token: str
    ) -> Page[Tag]:
        ch.check_text(key, field="key", required=False, max_len=MAX_KEY)
        if entity_type is not None:
            _entity_type(entity_type)
        canonical = None if value_json is None else ch.canonical_json(value_json, field="value_json")[0]
        size = page_size(requested)
        after = decode_token("tags", token, (int,))
        after_seq = None if after is None else int(after[0])
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.search(ns, key, canonical, entity_type, after_seq, size + 1)
        next_token = encode_token("tags", [rows[size - 1].seq]) if len(rows) > size else ""
        return Page(rows[:size], next_token)
