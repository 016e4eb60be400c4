"""The failed-authentication budget and the peer key it is kept under."""

from __future__ import annotations

import pytest

from artimeta_server.domain.auth.failure_budget import FailureBudget
from artimeta_server.rpc.auth import peer_host


def test_budget_refills_and_is_per_peer() -> None:
    now = [0.0]
    budget = FailureBudget(per_s=2.0, burst=3.0, clock=lambda: now[0])
    for _ in range(3):
        assert budget.retry_after("a") is None
        budget.spend("a")
    wait = budget.retry_after("a")
    assert wait is not None and wait == pytest.approx(0.5)
    assert budget.retry_after("b") is None
    now[0] += 0.5
    assert budget.retry_after("a") is None


def test_budget_forgets_refilled_peers_when_full() -> None:
    now = [0.0]
    budget = FailureBudget(per_s=1.0, burst=1.0, clock=lambda: now[0], max_peers=2)
    budget.spend("a")
    budget.spend("b")
    now[0] += 10
    budget.spend("c")
    assert budget.retry_after("c") is not None
    assert budget.retry_after("a") is None


def test_off_when_rate_is_zero() -> None:
    budget = FailureBudget(per_s=0)
    for _ in range(100):
        budget.spend("a")
    assert budget.retry_after("a") is None


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:10.0.0.7:51234", "10.0.0.7"),
        ("ipv6:[::1]:5000", "::1"),
        ("ipv4:::1:5000", "::1"),
        ("unix:/tmp/s", "unix:/tmp/s"),
        ("", ""),
    ],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host
