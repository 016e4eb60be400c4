"""Where a blob's bytes live in the bucket. Keys are derived from the digest,
`<namespace id>/cas/<2 hex>/<62 hex>`: the namespace id is never reused, so deleting a namespace
can remove its prefix without racing a namespace re-created under the same name."""

from __future__ import annotations

from artimeta_server.domain.digests import Digest


def cas_key(namespace_id: int, digest: Digest) -> str:
    return f"{namespace_id}/cas/{digest.hash[:2]}/{digest.hash[2:]}"


def namespace_prefix(namespace_id: int) -> str:
    return f"{namespace_id}/"


def cas_prefix(namespace_id: int) -> str:
    return f"{namespace_id}/cas/"


def staging_key(namespace_id: int, upload_id: str) -> str:
    """Where unverified bytes wait (presigned PUTs, uploads whose digest comes last): outside
    `cas/`, so nothing there is ever visible as a blob."""
    return f"{namespace_id}/staging/{upload_id}"


def digest_hash_of_key(key: str) -> str | None:
    """The sha256 hex of a `<ns>/cas/ab/cdef…` key, None for any other key."""
    parts = key.split("/")
    if len(parts) != 4 or parts[1] != "cas" or len(parts[2]) != 2 or len(parts[3]) != 62:
        return None
    return parts[2] + parts[3]
