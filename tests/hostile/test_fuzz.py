"""Fuzz pass over every RPC of every artimeta.v1 service (unary and streaming), with requests
generated from the descriptors (tests/hostile/protofuzz.py), seeds fixed so that every run sends
the same inputs. No reply may be INTERNAL or UNKNOWN, and a refused request writes nothing: the
row counts of every table of the fuzz namespace are compared before and after each refused call."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import artimeta
from artimeta_server.server import Server
from tests.conftest import unique_name
from tests.hostile import protofuzz
from tests.hostile.rows import Snapshot

EXAMPLES_PER_METHOD = 28
CALL_TIMEOUT_S = 20.0


def _invoke(channel: grpc.Channel, m: protofuzz.Method, payload: Any) -> grpc.StatusCode:
    try:
        if m.client_streaming:
            items = [protofuzz.corrupt(p.SerializeToString()) for p in payload]
            call = channel.stream_unary(m.path) if not m.server_streaming else channel.stream_stream(m.path)
            result = call(iter(items), timeout=CALL_TIMEOUT_S)
            if m.server_streaming:
                for _ in result:
                    pass
        else:
            raw = protofuzz.corrupt(payload.SerializeToString())
            if m.server_streaming:
                for _ in channel.unary_stream(m.path)(raw, timeout=CALL_TIMEOUT_S):
                    pass
            else:
                channel.unary_unary(m.path)(raw, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def _describe(payload: Any) -> str:
    text = repr(payload)
    return text if len(text) < 400 else text[:400] + "…"


@pytest.fixture
async def fuzz_namespace(aclient: artimeta.AsyncClient) -> AsyncIterator[str]:
    name = unique_name("fuzz")
    await aclient.create_namespace(name)
    yield name
    await aclient.delete_namespace(name, allow_missing=True)


async def test_fuzzed_requests_to_every_rpc_get_no_internal_or_unknown_and_refusals_write_nothing(
    server: Server, target: str, fuzz_namespace: str, capsys: pytest.CaptureFixture[str], tmp_root: Path
) -> None:
    assert server.domain is not None
    snapshot = await Snapshot.of(server, fuzz_namespace)
    loop = asyncio.get_running_loop()
    other = unique_name("fuzz-other")

    def counts() -> dict[str, int]:
        return asyncio.run_coroutine_threadsafe(snapshot.take(), loop).result()

    methods = protofuzz.methods()
    by_status: Counter[str] = Counter()
    per_method: dict[str, Counter[str]] = {}
    failures: list[str] = []
    writes: list[str] = []

    tried = 0

    def fuzz_method(channel: grpc.Channel, m: protofuzz.Method) -> None:
        msg = protofuzz.request(m.input, fuzz_namespace, lambda: protofuzz.strings(other, "name"))
        strategy = st.lists(msg, min_size=1, max_size=3) if m.client_streaming else msg
        seen = per_method.setdefault(m.path, Counter())

        @settings(
            max_examples=EXAMPLES_PER_METHOD,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def one(payload: Any) -> None:
            nonlocal tried
            tried += 1
            # Calls run one at a time and nothing else touches the fuzz namespace, so the counts
            # after the previous call are the counts before this one.
            before = last[0]
            code = _invoke(channel, m, payload)
            after = last[0] = counts()
            by_status[code.name] += 1
            seen[code.name] += 1
            if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                failures.append(f"{m.path} -> {code.name}: {_describe(payload)}")
            elif code is not grpc.StatusCode.OK and after != before:
                diff = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
                writes.append(f"{m.path} -> {code.name} wrote {diff}: {_describe(payload)}")

        one()

    last: list[dict[str, int]] = []

    def fuzz() -> None:
        last.append(counts())
        with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 8 << 20)]) as channel:
            for m in methods:
                fuzz_method(channel, m)

    started = time.perf_counter()
    await asyncio.to_thread(fuzz)
    elapsed = time.perf_counter() - started
    report = {
        "rpcs_fuzzed": len(methods),
        "services": len({m.service for m in methods}),
        "inputs_tried": tried,
        "replies_by_status": dict(sorted(by_status.items())),
        "seconds": round(elapsed, 1),
        "failures": failures[:50],
        "refused_but_wrote": writes[:50],
    }
    out = Path(os.environ.get("ARTIMETA_FUZZ_REPORT", tmp_root / "fuzz-report.json"))
    out.write_text(json.dumps({**report, "per_method": per_method}, indent=1))
    with capsys.disabled():
        print("\nfuzz:", json.dumps({k: v for k, v in report.items() if k not in ("failures", "refused_but_wrote")}))
    assert len({m.path for m in methods}) == len(methods) and len(methods) >= 70
    assert tried >= len(methods) * EXAMPLES_PER_METHOD // 2
    assert not failures, "\n".join(failures[:40])
    assert not writes, "\n".join(writes[:40])
    assert by_status["INTERNAL"] == 0 and by_status["UNKNOWN"] == 0
