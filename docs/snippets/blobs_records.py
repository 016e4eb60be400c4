import json
from pathlib import Path

from artimeta import Client
from artimeta.v1 import tags_pb2

Path("model.bin").write_bytes(bytes(range(256)) * 4096)  # stand-ins for your own files
Path("run").mkdir(exist_ok=True)
Path("run/metrics.json").write_text('{"loss": 0.1}')

with Client("127.0.0.1:50051") as client:
    ns = client.namespace("team-a").ensure()  # created if missing, as the adapters do
    digest = ns.blobs.upload_file("model.bin", progress=lambda done, total: print(done, total))  # streamed
    ns.blobs.download_to_file(digest, "copy.bin")  # verified
    ns.blobs.put_object("models/latest", b"...")  # keyed object
    stats = ns.records.commit_directory("a1b2c3d4e5f6", "./run")  # only missing files go
    ns.records.retrieve_directory("a1b2c3d4e5f6", "./run-copy")  # byte-identical
    # Every RPC is a typed method of its service's handle: keyword fields in, the response out.
    tag = tags_pb2.TagKeyValue(key="stage", value_json=json.dumps("prod"))
    ns.tags.record_tags(entity_type=tags_pb2.TAG_ENTITY_TYPE_VALUE, entity_id="e" * 40, tags=[tag])
    print(ns.tags.get_tags(entity_ids=["e" * 40]).entities[0].tags[0].key)  # stage
    print([g.name for g in ns.graphs.list_graphs().graphs])  # also .cache, .ops; client.stub() for raw stubs
