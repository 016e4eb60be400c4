"""Bearer tokens over an in-memory repository: what a token grants, every way one is refused
(with its reason), the verified-token cache and revocation, and the per-peer failure budget."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from artimeta_server.domain.auth.failure_budget import FailureBudget
from artimeta_server.domain.auth.models import Grant, Role
from artimeta_server.domain.auth.service import Tokens
from artimeta_server.domain.auth.token_format import PREFIX, hash_secret, split_token
from artimeta_server.domain.errors import NotFound, ResourceExhausted, Unauthenticated
from tests.unit.domain.auth.fakes import FakeJwt, FakeTokenRepository


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def _tokens(
    *, cache_ttl_s: float = 5.0, negative_ttl_s: float = 2.0, jwt: FakeJwt | None = None
) -> tuple[Tokens, FakeTokenRepository, Clock]:
    repo = FakeTokenRepository({"team-a", "team-b"})
    clock = Clock()
    budget = FailureBudget(per_s=1.0, burst=3.0, clock=clock)
    tokens = Tokens(repo, cache_ttl_s=cache_ttl_s, negative_ttl_s=negative_ttl_s, jwt=jwt, clock=clock, failures=budget)
    return tokens, repo, clock


async def _refused(tokens: Tokens, token: str, peer: str = "p") -> str:
    with pytest.raises(Unauthenticated) as err:
        await tokens.authenticate(token, peer)
    return err.value.reason


async def test_a_token_grants_its_role_on_its_namespace_only() -> None:
    tokens, repo, _ = _tokens()
    issued = await tokens.create("team-a", Role.WRITER, description="ci")
    assert issued.token.startswith(PREFIX)
    token_id, secret = split_token(issued.token) or ("", "")
    # Only the hash is stored.
    assert repo.rows[token_id].secret_hash == hash_secret(secret) != secret
    p = await tokens.authenticate(issued.token, "p")
    assert p.subject == f"token:{token_id}"
    assert p.grants == (Grant("team-a", Role.WRITER),)
    assert p.allows("team-a", Role.WRITER) and not p.allows("team-b", Role.READER)


async def test_an_all_namespace_token() -> None:
    tokens, _, _ = _tokens()
    issued = await tokens.create("*", Role.ADMIN)
    p = await tokens.authenticate(issued.token, "p")
    assert p.allows(None, Role.ADMIN) and p.allows("team-b", Role.ADMIN)


async def test_a_token_for_a_missing_namespace_is_not_issued() -> None:
    tokens, repo, _ = _tokens()
    with pytest.raises(NotFound) as err:
        await tokens.create("ghost", Role.READER)
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    assert repo.rows == {}


async def test_every_refusal_has_its_reason() -> None:
    tokens, repo, clock = _tokens(cache_ttl_s=0, negative_ttl_s=0)
    good = await tokens.create("team-a", Role.READER)
    token_id, secret = split_token(good.token) or ("", "")
    expiring = await tokens.create("team-a", Role.READER, expire_time=datetime.fromtimestamp(clock.now + 60, UTC))
    orphan = await tokens.create("team-b", Role.READER)
    repo.namespaces.discard("team-b")
    assert await _refused(tokens, "", "a") == "TOKEN_MISSING"
    assert await _refused(tokens, "amt_short_x", "b") == "TOKEN_INVALID"
    assert await _refused(tokens, f"{PREFIX}{token_id}_{secret}x", "c") == "TOKEN_INVALID"
    assert await _refused(tokens, f"{PREFIX}{'0' * 16}_{secret}", "d") == "TOKEN_INVALID"
    assert await _refused(tokens, "a.b.c", "e") == "TOKEN_INVALID"  # no JWT verifier configured
    # A token whose namespace is gone grants nothing, never every namespace.
    assert await _refused(tokens, orphan.token, "f") == "TOKEN_NAMESPACE_DELETED"
    await tokens.authenticate(expiring.token, "g")
    clock.now += 61
    assert await _refused(tokens, expiring.token, "g") == "TOKEN_EXPIRED"
    await tokens.revoke(token_id)
    assert await _refused(tokens, good.token, "h") == "TOKEN_REVOKED"


async def test_a_verified_token_is_cached_until_revoked() -> None:
    tokens, repo, _ = _tokens()
    issued = await tokens.create("team-a", Role.READER)
    for _ in range(5):
        await tokens.authenticate(issued.token, "p")
    assert repo.gets == 1
    token_id = issued.stored.id
    await tokens.revoke(token_id)
    assert await _refused(tokens, issued.token) == "TOKEN_REVOKED"
    with pytest.raises(NotFound) as err:
        await tokens.revoke("0" * 16)
    assert err.value.reason == "TOKEN_NOT_FOUND"


async def test_a_cached_principal_still_expires_on_time() -> None:
    tokens, _, clock = _tokens(cache_ttl_s=3600)
    issued = await tokens.create("team-a", Role.READER, expire_time=datetime.fromtimestamp(clock.now + 10, UTC))
    await tokens.authenticate(issued.token, "p")
    clock.now += 11
    assert await _refused(tokens, issued.token) == "TOKEN_EXPIRED"


async def test_concurrent_lookups_of_one_token_share_one_query() -> None:
    tokens, repo, _ = _tokens()
    issued = await tokens.create("team-a", Role.READER)
    principals = await asyncio.gather(*(tokens.authenticate(issued.token, "p") for _ in range(20)))
    assert len({p.subject for p in principals}) == 1
    assert repo.gets == 1


async def test_a_peer_that_keeps_failing_is_slowed_and_only_that_peer() -> None:
    tokens, _, clock = _tokens()
    good = await tokens.create("team-a", Role.READER)
    for _ in range(3):
        assert await _refused(tokens, "amt_bad", "mallory") == "TOKEN_INVALID"
    with pytest.raises(ResourceExhausted) as err:
        await tokens.authenticate("amt_bad", "mallory")
    assert err.value.reason == "AUTH_RATE_LIMITED"
    # Another peer, and a good token anywhere already verified, are not slowed.
    assert (await tokens.authenticate(good.token, "alice")).grants
    clock.now += 1.0
    assert await _refused(tokens, "amt_bad", "mallory") == "TOKEN_INVALID"


async def test_a_jwt_goes_to_the_verifier() -> None:
    tokens, repo, _ = _tokens(jwt=FakeJwt())
    p = await tokens.authenticate("h.alice.s", "p")
    assert (p.subject, p.grants) == ("alice", (Grant("team-a", Role.READER),))
    assert await _refused(tokens, "h.alice.forged", "q") == "TOKEN_INVALID"
    assert repo.gets == 0


async def test_tokens_are_listed_by_namespace() -> None:
    tokens, _, _ = _tokens()
    await tokens.create("team-a", Role.READER)
    await tokens.create("team-b", Role.READER)
    await tokens.create("*", Role.ADMIN)
    assert [t.namespace for t in await tokens.list("team-a")] == ["team-a"]
    assert [t.namespace for t in await tokens.list("*")] == ["*"]
    assert len(await tokens.list()) == 3


def test_a_failure_budget_refills_and_forgets_refilled_peers() -> None:
    clock = Clock()
    budget = FailureBudget(per_s=2.0, burst=2.0, clock=clock, max_peers=2)
    budget.spend("a")
    budget.spend("a")
    wait = budget.retry_after("a")
    assert wait == pytest.approx(0.5)
    clock.now += 0.5
    assert budget.retry_after("a") is None
    budget.spend("b")
    clock.now += 10
    budget.spend("c")  # a and b have refilled: forgotten to make room
    assert set(budget._buckets) == {"c"}
    assert FailureBudget(per_s=0).retry_after("x") is None
