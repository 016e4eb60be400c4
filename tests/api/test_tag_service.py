"""TagService through gRPC: redun's hashes and supersession, history, search, concurrency, bad input."""

from __future__ import annotations

import asyncio
import json

import pytest

import artimeta
from artimeta.v1 import tags_pb2 as pb
from artimeta.v1 import tags_pb2_grpc
from artimeta_server.domain import content_hash

ENTITY = "e" * 40


def kv(key: str, value: object) -> pb.TagKeyValue:
    return pb.TagKeyValue(key=key, value_json=json.dumps(value))


@pytest.fixture
def stub(aclient: artimeta.AsyncClient) -> tags_pb2_grpc.TagServiceStub:
    return aclient.stub(tags_pb2_grpc.TagServiceStub)


async def record(aclient, stub, namespace, tags, **kw) -> list[pb.Tag]:
    req = pb.RecordTagsRequest(
        namespace=namespace, entity_type=pb.TAG_ENTITY_TYPE_VALUE, entity_id=ENTITY, tags=tags, **kw
    )
    return list((await aclient.call(stub.RecordTags, req)).tags)


async def current(aclient, stub, namespace) -> list[tuple[str, object]]:
    resp = await aclient.call(stub.GetTags, pb.GetTagsRequest(namespace=namespace, entity_ids=[ENTITY]))
    return sorted((t.key, json.loads(t.value_json)) for e in resp.entities for t in e.tags)


async def test_supersession_and_history(aclient, stub, namespace):
    first = await record(aclient, stub, namespace, [kv("env", "prod"), kv("env", "dev"), kv("cfg", {"b": 1, "a": 2})])
    assert first[0].tag_hash == content_hash.tag_hash(ENTITY, "env", '"prod"', [])
    assert first[2].value_json == '{"a":2,"b":1}'
    assert await current(aclient, stub, namespace) == [("cfg", {"a": 2, "b": 1}), ("env", "dev"), ("env", "prod")]
    again = await record(aclient, stub, namespace, [kv("env", "prod")])
    assert again[0].tag_hash == first[0].tag_hash  # idempotent
    upd = await record(aclient, stub, namespace, [kv("env", "staging")], update=True)
    assert sorted(upd[0].parent_hashes) == sorted([first[0].tag_hash, first[1].tag_hash])
    assert await current(aclient, stub, namespace) == [("cfg", {"a": 2, "b": 1}), ("env", "staging")]
    hist = (
        await aclient.call(
            stub.GetTagHistory, pb.GetTagHistoryRequest(namespace=namespace, entity_id=ENTITY, key="env")
        )
    ).tags
    assert [(json.loads(t.value_json), t.is_current) for t in hist] == [
        ("prod", False),
        ("dev", False),
        ("staging", True),
    ]
    # new=True revives a superseded value as a new current tag (a new hash, its parent the old
    # tag); like redun, the response lists only the requested tags that were written as asked.
    revived = await record(aclient, stub, namespace, [kv("env", "prod")], new=True)
    assert revived == []
    assert ("env", "prod") in await current(aclient, stub, namespace)
    # Deletes are delete tags whose parents are the deleted tags.
    deleted = (
        await aclient.call(stub.DeleteTags, pb.DeleteTagsRequest(namespace=namespace, entity_id=ENTITY, keys=["env"]))
    ).tags
    assert deleted[0].entity_type == pb.TAG_ENTITY_TYPE_NULL and len(deleted[0].parent_hashes) == 2
    assert await current(aclient, stub, namespace) == [("cfg", {"a": 2, "b": 1})]
    upd = await aclient.call(
        stub.UpdateTags,
        pb.UpdateTagsRequest(
            namespace=namespace,
            entity_type=pb.TAG_ENTITY_TYPE_VALUE,
            entity_id=ENTITY,
            old_keys=["cfg"],
            new_tags=[kv("cfg", 3)],
        ),
    )
    assert json.loads(upd.tags[0].value_json) == 3
    assert await current(aclient, stub, namespace) == [("cfg", 3)]


async def test_search_is_keyset_paginated(aclient, stub, namespace):
    for i in range(7):
        req = pb.RecordTagsRequest(
            namespace=namespace,
            entity_type=pb.TAG_ENTITY_TYPE_JOB,
            entity_id=f"job-{i}",
            tags=[kv("team", "a" if i % 2 else "b")],
        )
        await aclient.call(stub.RecordTags, req)
    seen, token = [], ""
    while True:
        page = await aclient.call(
            stub.SearchTags, pb.SearchTagsRequest(namespace=namespace, key="team", page_size=3, page_token=token)
        )
        seen += [t.entity_id for t in page.tags]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"job-{i}" for i in range(7)]
    only_a = await aclient.call(
        stub.SearchTags, pb.SearchTagsRequest(namespace=namespace, key="team", value_json='"a"')
    )
    assert [t.entity_id for t in only_a.tags] == ["job-1", "job-3", "job-5"]
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(stub.SearchTags, pb.SearchTagsRequest(namespace=namespace, key="team", page_token="garbage"))
    assert err.value.reason == "INVALID_PAGE_TOKEN"


async def test_sixteen_writers_of_the_same_tags(aclient, stub, namespace, server):
    results = await asyncio.gather(
        *(record(aclient, stub, namespace, [kv("k", 1), kv("j", [1, 2])]) for _ in range(16))
    )
    assert len({tuple(t.tag_hash for t in r) for r in results}) == 1
    updates = await asyncio.gather(
        *(record(aclient, stub, namespace, [kv("k", i)], update=True) for i in range(16)), return_exceptions=True
    )
    assert not [u for u in updates if isinstance(u, BaseException)]
    cur = await current(aclient, stub, namespace)
    assert len([k for k, _ in cur if k == "k"]) == 1  # updates serialized: exactly one current value
    async with server.domain.db.connection() as conn:
        n = await conn.fetchval(
            "SELECT count(*) FROM tags t JOIN namespaces n ON n.id = t.namespace_id WHERE n.name = $1 AND key = 'j'",
            namespace,
        )
    assert n == 1


async def test_bad_input(aclient, stub, namespace):
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(
            stub.RecordTags,
            pb.RecordTagsRequest(namespace=namespace, entity_type=42, entity_id="x", tags=[kv("a", 1)]),  # type: ignore[arg-type]  # no such enum value, on purpose
        )
    assert err.value.reason == "INVALID_ENTITY_TYPE"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await record(aclient, stub, namespace, [kv("a", 1)], parents=["not-a-hash"])
    assert err.value.reason == "INVALID_HASH"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await record(aclient, stub, namespace, [kv("ok", 1), pb.TagKeyValue(key="a", value_json="{nope")])
    assert err.value.reason == "INVALID_JSON"
    assert await current(aclient, stub, namespace) == []  # nothing half-written
    with pytest.raises(artimeta.NotFound):
        await aclient.call(stub.GetTags, pb.GetTagsRequest(namespace="no-such-ns", entity_ids=["x"]))
