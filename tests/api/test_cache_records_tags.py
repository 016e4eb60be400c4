"""PutRecords recomputes whether tags are current for the tags it wrote and the parents they name
only; the result is the one a recompute over the whole namespace gives, whatever order and
batches the records arrive in."""

from __future__ import annotations

import json

import pytest

import artimeta
from artimeta.v1 import cache_pb2 as pb
from artimeta.v1 import cache_pb2_grpc, tags_pb2, tags_pb2_grpc
from artimeta_server.server import Server
from tests.api.test_cache_service import h
from tests.conftest import unique_name

CALL = tags_pb2.TAG_ENTITY_TYPE_CALL_NODE


def kv(key: str, value: object) -> tags_pb2.TagKeyValue:
    return tags_pb2.TagKeyValue(key=key, value_json=json.dumps(value))


async def _currency(server: Server, namespace: str) -> dict[str, tuple[bool, bool]]:
    """tag hash -> (is_current as stored, is_current as a full recompute of the namespace says)."""
    assert server.domain is not None
    ns = await server.domain.namespaces.resolve(namespace)
    async with server.domain.db.connection() as conn:
        rows = await conn.fetch(
            """SELECT t.tag_hash, t.is_current,
                      NOT EXISTS (SELECT 1 FROM tag_edits e WHERE e.namespace_id = $1 AND e.parent_hash = t.tag_hash)
                      AS recomputed
               FROM tags t WHERE t.namespace_id = $1""",
            ns,
        )
    return {r["tag_hash"]: (r["is_current"], r["recomputed"]) for r in rows}


async def _tag_history(aclient: artimeta.AsyncClient, namespace: str) -> None:
    """Tags on one call node that are added, updated, superseded and deleted; one on another."""
    tags = aclient.stub(tags_pb2_grpc.TagServiceStub)
    entity = h("call")
    await aclient.call(
        tags.RecordTags,
        tags_pb2.RecordTagsRequest(
            namespace=namespace, entity_type=CALL, entity_id=entity, tags=[kv("k1", 1), kv("k2", "a")]
        ),
    )
    await aclient.call(
        tags.RecordTags,
        tags_pb2.RecordTagsRequest(
            namespace=namespace, entity_type=CALL, entity_id=entity, tags=[kv("k1", 2)], update=True
        ),
    )
    await aclient.call(
        tags.UpdateTags,
        tags_pb2.UpdateTagsRequest(
            namespace=namespace, entity_type=CALL, entity_id=entity, old_keys=["k2"], new_tags=[kv("k2", "b")]
        ),
    )
    await aclient.call(
        tags.RecordTags,
        tags_pb2.RecordTagsRequest(
            namespace=namespace, entity_type=CALL, entity_id=entity, tags=[kv("k1", 3)], update=True
        ),
    )
    await aclient.call(tags.DeleteTags, tags_pb2.DeleteTagsRequest(namespace=namespace, entity_id=entity, keys=["k1"]))
    await aclient.call(
        tags.RecordTags,
        tags_pb2.RecordTagsRequest(namespace=namespace, entity_type=CALL, entity_id=h("other"), tags=[kv("x", True)]),
    )


@pytest.mark.parametrize("order", ["children-first", "parents-first", "one-batch-reversed"])
async def test_put_records_leaves_tags_current_exactly_as_a_full_recompute(
    aclient: artimeta.AsyncClient, namespace: str, server: Server, order: str
):
    stub = aclient.stub(cache_pb2_grpc.CacheServiceStub)
    await _tag_history(aclient, namespace)
    source = await _currency(server, namespace)
    assert len(source) >= 7
    assert all(stored == recomputed for stored, recomputed in source.values())
    assert sum(current for current, _ in source.values()) < len(source)  # some were superseded

    ids = list(source)
    records = (await aclient.call(stub.GetRecords, pb.GetRecordsRequest(namespace=namespace, ids=ids))).records
    assert sorted(r.id for r in records) == sorted(ids)
    children = [r for r in records if json.loads(r.json)["parents"]]
    roots = [r for r in records if not json.loads(r.json)["parents"]]
    assert children and roots
    batches = {
        "children-first": [children, roots],
        "parents-first": [roots, children],
        "one-batch-reversed": [list(reversed(records))],
    }[order]

    other = unique_name()
    await aclient.create_namespace(other)
    try:
        # A tag of the target namespace that no record touches keeps its state.
        tags = aclient.stub(tags_pb2_grpc.TagServiceStub)
        await aclient.call(
            tags.RecordTags,
            tags_pb2.RecordTagsRequest(namespace=other, entity_type=CALL, entity_id=h("bystander"), tags=[kv("b", 1)]),
        )
        created = 0
        for batch in batches:
            put = await aclient.call(stub.PutRecords, pb.PutRecordsRequest(namespace=other, records=batch))
            created += put.created
            copied = await _currency(server, other)
            assert all(stored == recomputed for stored, recomputed in copied.values()), copied
        assert created == len(records)
        copied = await _currency(server, other)
        assert {k: v for k, v in copied.items() if k in source} == source
        assert sum(current for current, _ in copied.values()) == sum(current for current, _ in source.values()) + 1
        got = await aclient.call(tags.GetTags, tags_pb2.GetTagsRequest(namespace=other, entity_ids=[h("call")]))
        want = await aclient.call(tags.GetTags, tags_pb2.GetTagsRequest(namespace=namespace, entity_ids=[h("call")]))
        assert got == want
    finally:
        await aclient.delete_namespace(other, allow_missing=True)
