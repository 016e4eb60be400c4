"""A Connect client in TypeScript, run by Node, calls the same RPCs as the gRPC clients over the
HTTP port and gets the same results and the same error reasons."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import artimeta
from tests.conftest import unique_name

CONSOLE = Path(__file__).resolve().parents[2] / "console"


async def test_typescript_connect_client_matches_grpc(
    base_url: str, hclient: artimeta.AsyncClient, tmp_path: Path
) -> None:
    node = shutil.which("node")
    esbuild = CONSOLE / "node_modules" / ".bin" / "esbuild"
    if node is None or not esbuild.exists():
        pytest.skip("needs node and console/node_modules (make console-check installs them)")
    script = tmp_path / "node-client.mjs"
    subprocess.run(
        [
            str(esbuild),
            str(CONSOLE / "examples" / "node-client.ts"),
            "--bundle",
            "--platform=node",
            "--format=esm",
            "--log-level=warning",
            f"--outfile={script}",
        ],
        check=True,
    )
    name = unique_name("node")
    proc = await asyncio.create_subprocess_exec(
        node, str(script), base_url, name, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    got = json.loads(out)

    via_grpc = await hclient.get_namespace(name)
    assert got["created"] == {"name": name, "labels": {"lang": "ts"}}
    assert got["got"]["description"] == via_grpc.description == "from node"
    assert got["got"]["labels"] == dict(via_grpc.labels)
    ct = via_grpc.create_time
    assert got["got"]["create_time"] == {"seconds": str(ct.seconds), "nanos": ct.nanos}
    assert got["listed"] == [ns.name async for ns in hclient.list_namespaces()]

    async def grpc_reason(coro: object) -> tuple[str, dict[str, str]]:
        try:
            await coro  # type: ignore[misc]
        except artimeta.ArtimetaError as e:
            return e.reason, dict(e.metadata)
        raise AssertionError("expected an error")

    expected = {
        "missing": ("NotFound", await grpc_reason(hclient.get_namespace(f"{name}-missing"))),
        "duplicate": ("AlreadyExists", await grpc_reason(hclient.create_namespace(name))),
        "bad_name": ("InvalidArgument", await grpc_reason(hclient.create_namespace("Not A Name"))),
    }
    for what, (code, (reason, metadata)) in expected.items():
        assert got["errors"][what] == {"code": code, "reason": reason, "metadata": metadata}, what
    await hclient.delete_namespace(name)
