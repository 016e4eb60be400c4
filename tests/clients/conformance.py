"""What Python writes for the other languages to read, and checks after they wrote theirs.

The same constants are in client/go/artimeta/conformance_test.go,
client/typescript/test/conformance.test.ts and client/java/.../ConformanceTest.java.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import artimeta
from tests.conftest import unique_name

DESCRIPTION = 'conformance: héllo ✓ 𝄞 "quoted"\ttab'


def labels(writer: str) -> dict[str, str]:
    return {"team": "data-eng", "unicode": "ünï-ß", "writer": writer}


@dataclass(frozen=True)
class Exchange:
    python_namespace: str
    write_prefix: str

    def env(self, target: str) -> dict[str, str]:
        return {
            "ARTIMETA_TARGET": target,
            "ARTIMETA_PY_NAMESPACE": self.python_namespace,
            "ARTIMETA_WRITE_PREFIX": self.write_prefix,
        }


@asynccontextmanager
async def exchange(client: artimeta.AsyncClient, lang: str) -> AsyncIterator[Exchange]:
    """Python writes its namespace, the suite runs in the body, then Python checks what it wrote."""
    ex = Exchange(unique_name(f"py-for-{lang}"), unique_name(lang))
    await client.create_namespace(ex.python_namespace, description=DESCRIPTION, labels=labels("python"))
    try:
        yield ex
        written = await client.get_namespace(ex.write_prefix)
        assert written.description == DESCRIPTION
        assert dict(written.labels) == labels(lang)
        assert written.HasField("create_time")
        # Only the namespace left for Python remains; the suite cleaned up its pages.
        leftovers = [ns.name async for ns in client.list_namespaces() if ns.name.startswith(ex.write_prefix + "-")]
        assert leftovers == []
    finally:
        for name in (ex.python_namespace, ex.write_prefix):
            await client.delete_namespace(name, allow_missing=True)
