"""Every adapter on a namespace that does not exist yet: created on first use (one
CreateNamespace; ALREADY_EXISTS, another process winning, is success), by 16 processes at once
without an error, used across processes through each system's own API, and, with tokens on,
refused with PERMISSION_DENIED naming the namespace and the missing role when the token may not
create namespaces (nothing created). Adapters whose systems need their own virtualenvs (arti,
redun, machinable) run there; the duck-typed ones (chariots, statisfactory) run here."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

import artimeta
from artimeta_server.domain.auth.models import Role
from artimeta_server.server import Server
from tests.api.test_auth import (  # noqa: F401  (fixtures)
    _token,
    auth_server,
    auth_target,
    jwks_file,
    root_token,
    signing_key,
)
from tests.conftest import adapter_python, unique_name

# Each script gets (target, namespace, token or "") and prints one JSON line.
USE = {
    "chariots": """
        from artimeta.adapters.chariots import ArtimetaOpStoreClient, Version
        store = ArtimetaOpStoreClient(target=target, namespace=namespace, token=token)
        store.register_valid_link(None, "train", Version("a" * 40, "b" * 40, "c" * 40, 1.5))
        result = store.post("/v1/get_all_versions_of_op", {"desired_op_name": "train"})["all_versions"]
    """,
    "statisfactory": """
        from urllib.parse import urlparse
        from artimeta.adapters.statisfactory import ArtimetaBackend
        backend = ArtimetaBackend(target=target, token=token)
        url = urlparse(f"artimeta://{namespace}/models/latest.pkl")
        backend.put(payload=b"weights", fragment=url)
        result = backend.get(fragment=url).decode()
    """,
    "redun-values": """
        from artimeta.adapters.redun import ArtimetaValueStore
        store = ArtimetaValueStore(target=target, namespace=namespace, token=token)
        store.put("ab" * 20, b"value")
        result = store.get("ab" * 20)[0].decode()
    """,
    "redun-backend": """
        from redun import Scheduler, task
        from artimeta.adapters.redun import ArtimetaBackend

        @task()
        def add(a: int, b: int) -> int:
            return a + b

        result = Scheduler(backend=ArtimetaBackend(target=target, namespace=namespace, token=token)).run(add(1, 2))
    """,
    "arti": """
        from arti import Graph
        from artimeta.adapters.arti import ArtimetaBackend
        with Graph(name="g", backend=ArtimetaBackend(target=target, namespace=namespace, token=token)) as g:
            g.artifacts.x = 1
        g.build().tag("prod", overwrite=True)
        result = "tagged"
    """,
    "machinable": """
        import machinable
        storage = machinable.get(
            "artimeta.adapters.machinable", {"target": target, "namespace": namespace, "token": token}
        )
        result = storage.contains("a1b2c3d4e5f6")
    """,
}
# What a second process reads back, where it differs from writing again.
READ = {
    "chariots": """
        from artimeta.adapters.chariots import ArtimetaOpStoreClient
        store = ArtimetaOpStoreClient(target=target, namespace=namespace, token=token)
        result = store.post("/v1/get_all_versions_of_op", {"desired_op_name": "train"})["all_versions"]
    """,
    "statisfactory": """
        from urllib.parse import urlparse
        from artimeta.adapters.statisfactory import ArtimetaBackend
        result = ArtimetaBackend(target=target, token=token).get(
            fragment=urlparse(f"artimeta://{namespace}/models/latest.pkl")
        ).decode()
    """,
    "redun-values": """
        from artimeta.adapters.redun import ArtimetaValueStore
        result = ArtimetaValueStore(target=target, namespace=namespace, token=token).get("ab" * 20)[0].decode()
    """,
}
VENV = {"redun-backend": "redun", "redun-values": "redun", "arti": "arti", "machinable": "machinable"}

WRAPPER = """
import json, sys
target, namespace, token = sys.argv[1], sys.argv[2], sys.argv[3] or None
try:
{body}
    print(json.dumps({{"ok": True, "result": result}}))
except Exception as err:
    print(json.dumps({{
        "ok": False, "type": type(err).__name__, "message": str(err),
        "code": getattr(getattr(err, "code", None), "name", None),
        "reason": getattr(err, "reason", None), "metadata": getattr(err, "metadata", None),
    }}))
"""


def python_for(system: str) -> str:
    venv = VENV.get(system)
    if venv is None:
        return sys.executable
    return adapter_python(venv)


async def run_use(
    system: str, target: str, namespace: str, token: str = "", *, cwd: Path, read: bool = False
) -> dict[str, Any]:
    # A file, not `-c`: redun hashes its tasks' source.
    script = cwd / f"use_{system.replace('-', '_')}_{uuid.uuid4().hex[:8]}.py"
    script.write_text(
        WRAPPER.format(
            body=textwrap.indent(textwrap.dedent((READ if read and system in READ else USE)[system]).strip(), "    ")
        )
    )
    proc = await asyncio.create_subprocess_exec(
        python_for(system),
        str(script),
        target,
        namespace,
        token,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def names(client: artimeta.AsyncClient) -> list[str]:
    return [ns.name async for ns in client.list_namespaces()]


async def test_client_ensure_namespace(target: str, aclient: artimeta.AsyncClient) -> None:
    name = unique_name("ensure")
    with pytest.raises(artimeta.NotFound) as missing:
        await aclient.ensure_namespace(name, create=False)
    assert missing.value.reason == "NAMESPACE_NOT_FOUND" and missing.value.metadata == {"namespace": name}
    assert name not in await names(aclient)
    await aclient.ensure_namespace(name)
    await aclient.ensure_namespace(name)  # known now: nothing more to do

    def blocking() -> str:  # in a thread: this event loop serves the calls
        with artimeta.Client(target) as client:
            client.ensure_namespace(name)  # exists already: success, nothing created twice
            return client.get_namespace(name).name

    assert await asyncio.to_thread(blocking) == name
    assert (await names(aclient)).count(name) == 1
    await aclient.delete_namespace(name)


@pytest.mark.parametrize("system", sorted(USE))
async def test_each_adapter_creates_its_namespace_on_first_use(
    system: str, target: str, aclient: artimeta.AsyncClient, tmp_path: Path
) -> None:
    name = unique_name(system)
    assert name not in await names(aclient)
    try:
        seen = await run_use(system, target, name, cwd=tmp_path)
        assert seen["ok"], seen
        assert (await aclient.get_namespace(name)).name == name
        # A second process on the namespace the first created sees what it wrote.
        again = await run_use(system, target, name, cwd=tmp_path, read=True)
        assert again == seen
    finally:
        await aclient.delete_namespace(name, allow_missing=True)


async def test_sixteen_processes_construct_one_adapter_on_one_new_namespace(
    target: str, aclient: artimeta.AsyncClient, tmp_path: Path
) -> None:
    name = unique_name("race")
    try:
        results = await asyncio.gather(*(run_use("chariots", target, name, cwd=tmp_path) for _ in range(16)))
        assert [r["ok"] for r in results] == [True] * 16, [r for r in results if not r["ok"]]
        assert (await names(aclient)).count(name) == 1
        assert all(len(r["result"]) == 1 for r in results)  # the same op version, registered once
    finally:
        await aclient.delete_namespace(name, allow_missing=True)


@pytest.mark.parametrize("system", sorted(USE))
async def test_a_token_that_may_not_create_namespaces_is_refused_by_name(
    system: str,
    auth_server: Server,  # noqa: F811
    auth_target: str,  # noqa: F811
    root_token: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # A writer on every namespace may write anywhere but create nothing.
    writer = await _token(auth_server, "*", Role.WRITER)
    name = unique_name(system)
    seen = await run_use(system, auth_target, name, writer, cwd=tmp_path)
    assert not seen["ok"]
    assert seen["type"] == "PermissionDenied" and seen["code"] == "PERMISSION_DENIED", seen
    assert seen["reason"] == "PERMISSION_DENIED"
    assert seen["metadata"]["namespace"] == name and seen["metadata"]["role"] == "admin"
    assert repr(name) in seen["message"] and "admin role" in seen["message"]
    async with artimeta.AsyncClient(auth_target, token=root_token) as root:
        with pytest.raises(artimeta.NotFound):
            await root.get_namespace(name)
        # Once an operator creates it, the same token works.
        await root.create_namespace(name)
        try:
            assert (await run_use(system, auth_target, name, writer, cwd=tmp_path))["ok"]
        finally:
            await root.delete_namespace(name, allow_missing=True)
