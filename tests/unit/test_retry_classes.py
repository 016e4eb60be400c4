"""The retry classes: declared on every RPC in the proto, request_id exactly where the class says,
the Python client's service config retrying only what is safe, and the generated tables (README,
TypeScript) in step with the proto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pool

from artimeta import _channel, retries
from artimeta.v1 import blobs_pb2, tags_pb2

ROOT = Path(__file__).resolve().parents[2]


def test_every_rpc_declares_a_retry_class_and_request_id_matches_it():
    table = retries.retry_classes()
    assert len(table) > 70
    pool = descriptor_pool.Default()
    for path, cls in table.items():
        assert cls in {retries.READ, retries.IDEMPOTENT, retries.REQUEST_ID, retries.NONE}, (path, cls)
        service, _, method = path.lstrip("/").rpartition("/")
        request = pool.FindServiceByName(service).methods_by_name[method].input_type
        has_id = "request_id" in request.fields_by_name
        assert has_id == (cls == retries.REQUEST_ID), f"{path} is {cls} but request_id present = {has_id}"


def test_service_config_retries_exactly_the_safe_rpcs():
    config = json.loads(_channel.RetryPolicy().service_config())
    [method_config] = config["methodConfig"]
    named = {f"/{n['service']}/{n['method']}" for n in method_config["name"]}
    assert named == {p for p, c in retries.retry_classes().items() if c != retries.NONE}
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


def test_request_id_is_filled_once_only_where_taken_and_a_given_one_kept():
    bare = tags_pb2.RecordTagsRequest(namespace="n")
    filled = retries.with_request_id("/artimeta.v1.TagService/RecordTags", bare)
    assert len(filled.request_id) == 36 and bare.request_id == ""
    given = tags_pb2.RecordTagsRequest(namespace="n", request_id="3b241101-e2bb-4255-8caf-4136c566a962")
    assert retries.with_request_id("/artimeta.v1.TagService/RecordTags", given) is given
    read = blobs_pb2.GetKeyRequest(namespace="n", key="k")
    assert retries.with_request_id("/artimeta.v1.BlobService/GetKey", read) is read


def test_generated_retry_tables_match_the_proto():
    """README.md's table and client/typescript/src/retry-classes.ts (scripts/retry-table.py)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "retry-table.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr + out.stdout
