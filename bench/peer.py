"""HTTP servers the read RPCs are compared with, and the HTTP load generator that drives them.

- The peer: the shape of Netflix's metaflow-service (not installable here) — aiohttp + aiopg on
  the same Postgres, one process, answering `GET /flows/{flow_id}/runs/{run_number}` with one
  row read by its primary key and sent as JSON, aiohttp's access log on (as artimeta's).
- The HTTP ceiling: a bare aiohttp app answering `GET /` with a constant body.

Both run as `python -m bench.peer serve|hello PORT [DSN]`; the load generator as
`python -m bench.peer load URL --method GET|POST [--body JSON] --cpu-pid PID`: `concurrency`
workers over one HTTP/1.1 client with keep-alive, one request after another, printing JSON
(rps, p50/p99 ms, and the server's CPU µs per request over the measured window)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench import cpu
from bench.closed_loop import closed_loop

# metaflow-service's runs table (services/migration_service: runs_v3), the columns its GET reads.
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs_v3 (
    flow_id VARCHAR(255) NOT NULL,
    run_number SERIAL NOT NULL,
    run_id VARCHAR(255),
    user_name VARCHAR(255),
    ts_epoch BIGINT NOT NULL,
    last_heartbeat_ts BIGINT,
    tags JSONB,
    system_tags JSONB,
    PRIMARY KEY (flow_id, run_number)
)
"""
SEED = """
INSERT INTO runs_v3 (flow_id, run_number, user_name, ts_epoch, tags, system_tags)
VALUES ('BenchFlow', 1, 'bench', 1767225600000, '["a", "b"]', '["user:bench", "runtime:dev"]')
ON CONFLICT DO NOTHING
"""
GET_RUN = (
    "SELECT flow_id, run_number, run_id, user_name, ts_epoch, last_heartbeat_ts, tags, system_tags"
    " FROM runs_v3 WHERE flow_id = %s AND run_number = %s"
)
RUN_PATH = "/flows/BenchFlow/runs/1"


def _access_log_to_devnull() -> None:
    # The access log formatted per request, as artimeta's: its lines go to /dev/null.
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the server
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def serve_peer(port: int, dsn: str) -> None:
    import aiopg
    import psycopg2.extras
    from aiohttp import web

    async def app() -> web.Application:
        pool = await aiopg.create_pool(dsn, minsize=1, maxsize=10)
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(SCHEMA)
            await cur.execute(SEED)

        async def get_run(request: web.Request) -> web.Response:
            flow_id = request.match_info["flow_id"]
            run_number = int(request.match_info["run_number"])
            async with pool.acquire() as conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                await cur.execute(GET_RUN, (flow_id, run_number))
                row = await cur.fetchone()
            if row is None:
                return web.Response(status=404, text="{}", content_type="application/json")
            return web.Response(status=200, text=json.dumps(dict(row)), content_type="application/json")

        application = web.Application()
        application.router.add_get("/flows/{flow_id}/runs/{run_number}", get_run)
        return application

    _access_log_to_devnull()
    web.run_app(app(), host="127.0.0.1", port=port, print=None)


def serve_hello(port: int) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    application = web.Application()
    application.router.add_get("/", hello)
    _access_log_to_devnull()
    web.run_app(application, host="127.0.0.1", port=port, print=None)


async def drive(
    url: str, method: str, body: bytes, concurrency: int, seconds: float, warmup: float, cpu_pid: int
) -> dict[str, Any]:
    from pyqwest import Client, HTTPTransport, HTTPVersion

    # Connection reuse, no compression: what a plain HTTP/1.1 client sends.
    client = Client(
        HTTPTransport(
            http_version=HTTPVersion.HTTP1, enable_gzip=False, enable_brotli=False, enable_zstd=False, enable_otel=False
        )
    )
    headers = {"content-type": "application/json"}

    async def one() -> bool:
        if method == "GET":
            resp = await client.get(url)
        else:
            resp = await client.post(url, headers=headers, content=body)
        return resp.status == 200 and len(resp.content) > 0

    return await closed_loop(one, concurrency=concurrency, seconds=seconds, warmup=warmup, cpu_pid=cpu_pid)


HEY_VERSION = "v0.1.4"
HEY_DIR = Path(os.environ.get("ARTIMETA_CACHE", Path.home() / ".cache" / "artimeta")) / f"hey-{HEY_VERSION}"


def ensure_hey() -> Path | None:
    """hey (a Go HTTP load generator) built once from its module into the cache; None without Go.
    A native load generator keeps the HTTP points server-bound: on one core, the Python one
    tops out near the aiohttp hello ceiling."""
    binary = HEY_DIR / "hey"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        return None
    cache = HEY_DIR.parent / "go"
    env = {**os.environ, "GOBIN": str(HEY_DIR), "GOPATH": str(cache / "path"), "GOMODCACHE": str(cache / "mod"),
           "GOCACHE": str(cache / "build"), "GOFLAGS": "-modcacherw"}  # fmt: skip
    subprocess.run([go, "install", f"github.com/rakyll/hey@{HEY_VERSION}"], env=env, check=True, timeout=600)
    return binary


def _hey_summary(text: str) -> dict[str, float]:
    def seconds_at(label: str) -> float:
        m = re.search(rf"{label}% in ([0-9.]+) secs", text)
        return round(float(m.group(1)) * 1000, 3) if m else 0.0

    rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    ok = sum(int(n) for n in re.findall(r"\[200\]\s+(\d+) responses", text))
    total = sum(int(n) for n in re.findall(r"\[\d+\]\s+(\d+) responses", text))
    return {
        "calls": ok,
        "errors": total - ok + len(re.findall(r"^Error distribution", text, re.M)),
        # hey's rate counts every response: only the 200s count here.
        "rps": round(float(rps.group(1)) * ok / total, 1) if rps and total else 0.0,
        "p50_ms": seconds_at("50"),
        "p99_ms": seconds_at("99"),
    }


def hey_load(
    hey: Path, url: str, *, method: str, body: str, concurrency: int, seconds: float, cpu_pid: int
) -> dict[str, Any]:
    """One hey run (HTTP/1.1, keep-alive, no compression) after a short warm-up run, with the
    server's CPU µs per request over the measured run."""
    args = [str(hey), "-c", str(concurrency), "-disable-compression", "-m", method]
    if body:
        args += ["-d", body, "-T", "application/json"]
    subprocess.run([*args, "-z", "0.5s", url], capture_output=True, check=True, preexec_fn=cpu.load_preexec())
    before = cpu.cpu_s(cpu_pid)
    out = subprocess.run(
        [*args, "-z", f"{seconds}s", url], capture_output=True, text=True, check=True, preexec_fn=cpu.load_preexec()
    )
    used = cpu.cpu_s(cpu_pid) - before
    result: dict[str, Any] = _hey_summary(out.stdout)
    result["server_cpu_us_per_rpc"] = cpu.us_per_call(used, int(result["calls"]))
    return result


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.peer")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("port", type=int)
    s.add_argument("dsn")
    h = sub.add_parser("hello")
    h.add_argument("port", type=int)
    ld = sub.add_parser("load")
    ld.add_argument("url")
    ld.add_argument("--method", default="GET", choices=["GET", "POST"])
    ld.add_argument("--body", default="")
    ld.add_argument("--concurrency", type=int, default=16)
    ld.add_argument("--seconds", type=float, default=5.0)
    ld.add_argument("--warmup", type=float, default=1.0)
    ld.add_argument("--cpu-pid", type=int, default=0)
    a = p.parse_args()
    import uvloop

    # The servers keep asyncio's own loop, as metaflow-service does; the load generator runs on uvloop
    # as the gRPC one does.
    if a.cmd == "serve":
        serve_peer(a.port, a.dsn)
    elif a.cmd == "hello":
        serve_hello(a.port)
    else:
        cpu.pin_load()
        result = uvloop.run(drive(a.url, a.method, a.body.encode(), a.concurrency, a.seconds, a.warmup, a.cpu_pid))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
