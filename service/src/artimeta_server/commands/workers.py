"""`serve --workers N`: N server processes on one port (SO_REUSEPORT), the way past one core for a
Python server. The kernel spreads new connections over the workers; this supervising process
checks first that no other process listens on the ports (only its own workers may share them,
ports.py), migrates once, serves the summed /metrics of all workers, forwards SIGTERM, and exits
when any worker dies so the orchestrator restarts the whole pod. Workers die with it, SIGKILL
included (lifetime.py). Started by the serve command (serve.py)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType

from artimeta_server import lifetime, ports
from artimeta_server.config import Settings

log = logging.getLogger("artimeta.workers")


def _concrete_listen(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    if int(port) != 0:
        return listen
    with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET) as s:
        s.bind((host.strip("[]") or "0.0.0.0", 0))
        return f"{host}:{s.getsockname()[1]}"


def run(settings: Settings, *, migrate_schema: bool) -> int:
    settings.validate_serving()
    from artimeta_server.server import check_ports

    check_ports(settings)  # the workers share the ports with each other, and with nobody else
    if migrate_schema:
        import uvloop

        from artimeta_server.storage import migrate

        applied = uvloop.run(migrate.migrate(settings.database_url))
        if applied:
            log.info("applied migrations %s", [f"{m.version:04d}_{m.name}" for m in applied])
    listen = _concrete_listen(settings.listen)
    env = {**os.environ, "ARTIMETA_LISTEN": listen, "ARTIMETA_WORKERS": "1"}
    if settings.http_listen:  # the HTTP port is shared the same way (SO_REUSEPORT)
        env["ARTIMETA_HTTP_LISTEN"] = _concrete_listen(settings.http_listen)
    metrics_dir = None
    httpd = None
    if settings.metrics_listen:
        metrics_dir = tempfile.mkdtemp(prefix="artimeta-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        from artimeta_server import metrics

        try:
            httpd, port = metrics.serve(settings.metrics_listen, multiprocess=True)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ports.PortInUse(
                    "metrics", settings.metrics_listen, ports.split(settings.metrics_listen)[1]
                ) from None
            raise
        log.info("metrics", extra={"metrics_port": port})
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "artimeta_server", "serve", "--worker"],
            env=env,
            preexec_fn=lifetime.die_with_parent(signal.SIGTERM),
        )
        for _ in range(settings.workers)
    ]
    log.info("workers started", extra={"listen": listen, "pids": [c.pid for c in children]})
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        while True:
            done = [c for c in children if c.poll() is not None]
            if stopping or done:
                break
            time.sleep(0.2)
        if not stopping:
            failed = done[0]
            log.error("worker %d exited with %s; stopping the others", failed.pid, failed.returncode)
            code = 1
            stop(signal.SIGTERM, None)
        deadline = time.monotonic() + settings.shutdown_grace_s + 5
        for c in children:
            try:
                c.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
            if c.returncode not in (0, -signal.SIGTERM):
                code = code or 1
    finally:
        if httpd is not None:
            httpd.shutdown()
        if metrics_dir is not None:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)
    return code
