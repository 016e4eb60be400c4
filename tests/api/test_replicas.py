"""Several server processes on one Postgres and one S3 store: migrations started by all at once
leave one schema; writers racing through every replica get exactly one winner; `serve --workers`
shares one port and sums its workers' metrics; the token command-line works end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import artimeta
from artimeta_server.devstack.procs import free_port, wait_for
from artimeta_server.devstack.stack import Stack
from artimeta_server.storage import migrate
from tests import replicas as _replicas
from tests.conftest import unique_name
from tests.replicas import servers

# The shared fixtures of tests/replicas.py, taken into this module.
fresh_db_env = _replicas.fresh_db_env
replicas = _replicas.replicas


async def test_migrations_by_three_replicas_give_one_schema(
    replicas: list[tuple[subprocess.Popen[bytes], str]], stack: Stack, fresh_db_env: dict[str, str]
) -> None:
    import asyncpg

    conn = await asyncpg.connect(fresh_db_env["ARTIMETA_DATABASE_URL"])
    try:
        rows = await conn.fetch("SELECT version FROM artimeta_schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in migrate.available()]
        assert await migrate.pending(conn) == []
    finally:
        await conn.close()


async def test_namespace_create_race_has_one_winner(replicas: list[tuple[subprocess.Popen[bytes], str]]) -> None:
    clients = [artimeta.AsyncClient(target, retry=None) for _, target in replicas]
    try:
        for _round in range(3):
            name = unique_name("race")
            attempts = [clients[i % len(clients)].create_namespace(name) for i in range(24)]
            results = await asyncio.gather(*attempts, return_exceptions=True)
            won = [r for r in results if not isinstance(r, BaseException)]
            lost = [r for r in results if isinstance(r, BaseException)]
            assert len(won) == 1, results
            assert all(isinstance(e, artimeta.AlreadyExists) and e.reason == "NAMESPACE_EXISTS" for e in lost), lost
            for c in clients:
                assert (await c.get_namespace(name)).name == name
    finally:
        for c in clients:
            await c.close()


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_workers_share_one_port_and_sum_their_metrics(
    fresh_db_env: dict[str, str], venv_bin: Path, tmp_root: Path, replicas: object
) -> None:
    metrics_port = free_port()
    env = {**fresh_db_env, "ARTIMETA_METRICS_LISTEN": f"127.0.0.1:{metrics_port}"}
    with servers(venv_bin, env, tmp_root, 1, "--workers", "2") as procs:
        proc, target = procs[0]
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 2
        name = unique_name()
        # Separate channels are separate connections, which the kernel spreads over the workers.
        with artimeta.Client(target, retry=None) as c:
            c.create_namespace(name)
        for _ in range(8):
            with artimeta.Client(target, retry=None) as c:
                assert c.get_namespace(name).name == name
        labels = (
            ("grpc_code", "OK"),
            ("grpc_method", "GetNamespace"),
            ("grpc_service", "artimeta.v1.NamespaceService"),
        )
        wait_for(
            lambda: _scrape(metrics_port).get(("artimeta_rpc_handled_total", labels)) == 8,
            timeout_s=10,
            what="summed worker metrics",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_token_command_line(
    replicas: list[tuple[subprocess.Popen[bytes], str]], fresh_db_env: dict[str, str], venv_bin: Path, tmp_root: Path
) -> None:
    cli = [str(venv_bin / "artimeta-server"), "token"]
    env = dict(fresh_db_env)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=60)

    admin = run("create", "--namespace", "*", "--role", "admin", "--description", "ops")
    assert admin.returncode == 0, admin.stderr
    token = admin.stdout.strip()
    token_id = token.split("_")[1]
    listed = run("list", "--json")
    assert listed.returncode == 0 and token_id in listed.stdout
    assert token.rsplit("_", 1)[1] not in listed.stdout  # the secret is never shown again
    assert json.loads(listed.stdout)[-1]["role"] in {"admin", "reader", "writer"}
    missing = run("create", "--namespace", unique_name(), "--role", "reader")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad = run("create", "--namespace", "*", "--role", "reader", "--expires", "soon")
    assert bad.returncode == 2

    port = free_port()
    auth_env = {**fresh_db_env, "ARTIMETA_AUTH": "tokens", "ARTIMETA_AUTH_CACHE_TTL_S": "0"}
    with servers(venv_bin, auth_env, tmp_root, 1) as procs:
        _, target = procs[0]
        del port
        with artimeta.Client(target, token=token, retry=None) as c:
            name = unique_name()
            c.create_namespace(name)
            reader = run("create", "--namespace", name, "--role", "reader", "--expires", "1h")
            assert reader.returncode == 0
            with artimeta.Client(target, token=reader.stdout.strip(), retry=None) as r:
                assert r.get_namespace(name).name == name
                with pytest.raises(artimeta.PermissionDenied):
                    r.delete_namespace(name)
            assert run("revoke", token_id).returncode == 0
            with pytest.raises(artimeta.Unauthenticated) as err:
                c.get_namespace(name)
            assert err.value.reason == "TOKEN_REVOKED"
        assert run("revoke", "0000000000000000").returncode == 2


def test_supervisor_stops_when_a_worker_dies(
    fresh_db_env: dict[str, str], venv_bin: Path, tmp_root: Path, replicas: object
) -> None:
    with servers(venv_bin, fresh_db_env, tmp_root, 1, "--workers", "2") as procs:
        proc, _ = procs[0]
        children = [
            int(p)
            for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        ]
        assert len(children) == 2
        os.kill(children[0], signal.SIGKILL)
        # The pod must restart as a whole rather than serve on with half its workers.
        assert proc.wait(timeout=30) == 1
        wait_for(lambda: not os.path.exists(f"/proc/{children[1]}"), timeout_s=20, what="the other worker to exit")
