"""`python -m artimeta_server.devstack run`: the whole local stack and the server, for `make run`.

Starts Postgres and an S3 server in a state folder (kept between runs), migrates, serves on
127.0.0.1:50051 (ARTIMETA_LISTEN overrides), over HTTP (Connect, gRPC-Web, console) on 127.0.0.1:50052
(ARTIMETA_HTTP_LISTEN overrides; empty turns it off) and stops everything on Ctrl-C, SIGTERM or
SIGHUP. Postgres and the S3 server also die when this process is killed outright (SIGKILL, the
OOM killer), and under make when make is; a later run on the same state folder stops whatever an
earlier one still left running there and serves the same data. What can be foreseen (the folder
in use, a port taken, a server that does not start) ends in one line and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from artimeta_server import lifetime, logs
from artimeta_server.config import ConfigError, Settings
from artimeta_server.devstack.s3 import minio_binary
from artimeta_server.devstack.stack import Stack, StackError
from artimeta_server.ports import EXIT_PORT_IN_USE, PortInUse

EXIT_STACK = 1
EXIT_CONFIG = 2
_DEFAULTS = {"ARTIMETA_HTTP_LISTEN": "127.0.0.1:50052"}


def _banner(port: int, http_port: int, stack: Stack) -> str:
    assert stack.postgres is not None and stack.s3 is not None
    http = (
        f"""
artimeta is serving HTTP (Connect JSON/binary, gRPC-Web) on 127.0.0.1:{http_port}
  console   http://127.0.0.1:{http_port}/console/
  health    http://127.0.0.1:{http_port}/healthz
  curl -H 'Content-Type: application/json' -d '{{}}' http://127.0.0.1:{http_port}/artimeta.v1.NamespaceService/ListNamespaces
"""
        if http_port
        else ""
    )
    return f"""
artimeta is serving on 127.0.0.1:{port}
  postgres  {stack.postgres.dsn()}
  s3        http://{stack.s3.endpoint} ({stack.s3.kind}; credentials in {stack.home / "stack.json"})

Call it:
  .venv/bin/grpcurl -plaintext 127.0.0.1:{port} list
  .venv/bin/grpcurl -plaintext 127.0.0.1:{port} grpc.health.v1.Health/Check
  .venv/bin/grpcurl -plaintext -d '{{"namespace": {{"name": "demo"}}}}' 127.0.0.1:{port} artimeta.v1.NamespaceService/CreateNamespace
  .venv/bin/python -c 'import artimeta; c = artimeta.Client("127.0.0.1:{port}"); print(list(c.list_namespaces()))'
{http}
Ctrl-C stops the server, Postgres and the S3 server.
"""


async def _serve(settings: Settings, stack: Stack) -> None:
    from artimeta_server.server import Server

    server = Server(settings)
    port = await server.start(migrate_schema=True)
    print(_banner(port, server.http_port, stack), flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m artimeta_server.devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start Postgres + S3 + the server in the foreground")
    run.add_argument("--state", default=".state", help="state folder, kept between runs")
    run.add_argument("--s3", choices=["seaweedfs", "minio"], default=os.environ.get("ARTIMETA_DEV_S3", "seaweedfs"))
    args = parser.parse_args(argv)

    if args.s3 == "minio" and minio_binary() is None:
        print("MinIO is not built yet (scripts/ensure-minio.sh); using SeaweedFS", file=sys.stderr)
        args.s3 = "seaweedfs"
    # Under make, make is the process one sees and kills: this one stops (in order) with it.
    parent = os.getppid()
    if os.environ.get("MAKELEVEL") and lifetime.set_parent_death_signal(signal.SIGTERM) and os.getppid() != parent:
        return EXIT_STACK  # make was gone before the line above
    try:
        return _run(Path(args.state).resolve(), args.s3)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int) -> int:
    print(f"artimeta devstack: {message}", file=sys.stderr, flush=True)
    return code


def _run(home: Path, s3_kind: str) -> int:
    from artimeta_server.server import check_ports

    try:
        # The server's own ports first: a taken one is refused before anything is started.
        check_ports(Settings.from_env({**_DEFAULTS, **os.environ}))
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except PortInUse as exc:
        return _fail(str(exc), EXIT_PORT_IN_USE)
    stack = Stack(home, s3_kind=s3_kind)
    print(f"starting postgres and {s3_kind} in {stack.home} ...", flush=True)
    try:
        stack.start()
    except StackError as exc:
        return _fail(str(exc), EXIT_STACK)
    if stack.stopped_leftovers:
        print(f"stopped what an earlier run left running there: {', '.join(stack.stopped_leftovers)}", flush=True)
    try:
        env = {**_DEFAULTS, **os.environ, **stack.env()}
        settings = Settings.from_env(env, log_json=False)
        logs.setup(settings.log_level, json_lines=False)
        import uvloop

        uvloop.run(_serve(settings, stack))
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except PortInUse as exc:
        return _fail(str(exc), EXIT_PORT_IN_USE)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping postgres and the S3 server ...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
