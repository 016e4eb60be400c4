"""Pure helpers of the blob and record services."""

from __future__ import annotations

import pytest
import urllib3
from minio.error import S3Error

from artimeta.blob_streams import _rechunk
from artimeta_server.domain.blobs.rules import mismatch, validate_key
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import InvalidArgument, NotFound, Unavailable
from artimeta_server.domain.records.manifest import validate_path, validate_uuid
from artimeta_server.storage.blobs.index import references_query
from artimeta_server.storage.blobs.keys import cas_key, digest_hash_of_key, staging_key
from artimeta_server.storage.blobs.references import BLOB_REFERENCES, BlobReference
from artimeta_server.storage.blobs.s3 import s3_error


def test_keys_round_trip() -> None:
    d = Digest("ab" + "c" * 62, 5)
    key = cas_key(7, d)
    assert key == f"7/cas/ab/{'c' * 62}"
    assert digest_hash_of_key(key) == d.hash
    assert digest_hash_of_key(staging_key(7, "u")) is None
    assert digest_hash_of_key("7/cas/ab/short") is None


def test_rechunk_gives_exact_blocks() -> None:
    blocks = list(_rechunk([b"a" * 3, b"", b"b" * 10, b"c"], 4))
    assert b"".join(blocks) == b"aaa" + b"b" * 10 + b"c"
    assert [len(b) for b in blocks] == [4, 4, 4, 2]
    assert list(_rechunk([], 4)) == []


def test_mismatch_reasons() -> None:
    d = Digest("a" * 64, 3)
    assert mismatch(d, Digest("a" * 64, 4)).reason == "SIZE_MISMATCH"
    assert mismatch(d, Digest("b" * 64, 3)).reason == "DIGEST_MISMATCH"


@pytest.mark.parametrize("path", ["", "/a", "a/", "a//b", "./a", "a/../b", "..", "a\\b", "a\x00"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_path(path)


def test_good_paths_uuids_keys() -> None:
    for p in (".hidden", "a/b/c.txt", "name with spaces ü", "...x"):
        assert validate_path(p) == p
    assert validate_uuid("ab12CD34ef56") == "ab12CD34ef56"
    for bad in ("", "a/b", "x" * 129, "-x"):
        with pytest.raises(InvalidArgument):
            validate_uuid(bad)
    with pytest.raises(InvalidArgument):
        validate_key("")


def test_references_query_covers_every_registered_column() -> None:
    sql = references_query(BLOB_REFERENCES)
    for ref in BLOB_REFERENCES:
        assert f"FROM {ref.table} r" in sql
    assert "WHERE false" in references_query([])
    one = references_query([BlobReference("t", "ns", "h", "s")])
    assert "r.h = req.hash AND r.s = req.size" in one


def _answer(status: int, code: str) -> S3Error:
    return S3Error(urllib3.HTTPResponse(status=status), code, "msg", "/b/k", "rid", "hid")


@pytest.mark.parametrize(
    ("status", "code"), [(503, "SlowDownWrite"), (503, "SlowDown"), (500, "InternalError"), (503, "XMinioWriteQuorum")]
)
def test_a_busy_or_failing_store_is_unavailable(status: int, code: str) -> None:
    mapped = s3_error(_answer(status, code))
    assert isinstance(mapped, Unavailable) and mapped.reason == "BLOB_STORE_UNAVAILABLE"


def test_missing_is_not_found_and_other_answers_stay_themselves() -> None:
    assert isinstance(s3_error(_answer(404, "NoSuchKey")), NotFound)
    denied = _answer(403, "AccessDenied")
    assert s3_error(denied) is denied
