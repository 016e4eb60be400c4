"""statisfactory's byte-backend contract on artimeta (the real package needs Python < 3.11, so
the duck-typed contract is tested directly): overwrite, missing key, scheme registry rules."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

import pytest

import artimeta
from artimeta.adapters.statisfactory import (
    BACKENDS,
    ArtefactNotFound,
    ArtimetaBackend,
    BackendRegistry,
    DuplicateScheme,
    UnknownScheme,
)


async def test_put_overwrites_get_returns_bytes(target: str, namespace: str) -> None:
    backend = ArtimetaBackend(target=target)
    url = urlparse(f"artimeta://{namespace}/data/model.pkl")

    def scenario() -> None:
        backend.put(payload=b"v1", fragment=url)
        assert backend.get(fragment=url) == b"v1"
        backend.put(payload=b"v2", fragment=url, extra="ignored")
        assert backend.get(fragment=url, lake_ref="ignored") == b"v2"
        other = ArtimetaBackend(target=target)
        assert other.get(fragment=url) == b"v2", "another instance sees the same data"
        big = bytes(range(256)) * 20_000
        backend.put(payload=big, fragment=urlparse(f"artimeta://{namespace}/big"))
        assert other.get(fragment=urlparse(f"artimeta://{namespace}/big")) == big
        other.close()

    await asyncio.to_thread(scenario)
    backend.close()


async def test_missing_key_and_bad_urls_are_errors(target: str, namespace: str) -> None:
    backend = ArtimetaBackend(target=target)

    def scenario() -> None:
        with pytest.raises(ArtefactNotFound) as err:
            backend.get(fragment=urlparse(f"artimeta://{namespace}/nope"))
        assert isinstance(err.value, KeyError) and isinstance(err.value, artimeta.NotFound)
        assert err.value.reason == "KEY_NOT_FOUND"
        # A namespace a URL names is created on first use, unless the backend is told not to.
        strict = ArtimetaBackend(target=target, create_namespace=False)
        with pytest.raises(artimeta.NotFound) as err2:
            strict.get(fragment=urlparse(f"artimeta://{namespace}-absent/x"))
        assert err2.value.reason == "NAMESPACE_NOT_FOUND"
        strict.close()
        with pytest.raises(ArtefactNotFound):
            backend.get(fragment=urlparse(f"artimeta://{namespace}-absent/x"))
        with artimeta.Client(target) as client:
            assert client.delete_namespace(f"{namespace}-absent").deleted
        for bad in ("s3://bucket/key", f"artimeta://{namespace}/", "artimeta:///key"):
            with pytest.raises(artimeta.InvalidArgument):
                backend.put(payload=b"x", fragment=urlparse(bad))
        pinned = ArtimetaBackend(target=target, namespace="someone-else")
        with pytest.raises(artimeta.InvalidArgument) as err3:
            pinned.get(fragment=urlparse(f"artimeta://{namespace}/data"))
        assert err3.value.reason == "WRONG_NAMESPACE"
        pinned.close()

    await asyncio.to_thread(scenario)
    backend.close()


def test_scheme_registry_rules() -> None:
    assert BACKENDS.for_url("artimeta://ns/key") is ArtimetaBackend
    assert BACKENDS.backends()["artimeta"] is ArtimetaBackend
    with pytest.raises(UnknownScheme):
        BACKENDS.for_url("lakefs://repo/key")
    with pytest.raises(DuplicateScheme):
        BACKENDS.register("artimeta")(type("Other", (), {}))
    registry = BackendRegistry()
    registry.register("x")(ArtimetaBackend)
    registry.register("x")(ArtimetaBackend)  # the same class again is not a conflict
    with pytest.raises(UnknownScheme):
        registry.for_url("y://a/b")
