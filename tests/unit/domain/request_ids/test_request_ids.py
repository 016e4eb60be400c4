"""The idempotency ledger's rules over an in-memory ledger: at most once per (namespace, method,
request_id) within the retention window, the first answer (reply or lasting error) for every
repeat, another body refused, "try again" errors not remembered, a lost race undone."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from artimeta_server.domain import errors
from artimeta_server.domain.reasons import Reason
from artimeta_server.domain.request_ids.models import GLOBAL_NAMESPACE_ID, Outcome, RequestKey
from artimeta_server.domain.request_ids.service import RequestIds
from tests.unit.domain.request_ids.fakes import FakeLedger, FakeNamespaceIds

RETENTION = 100.0
METHOD = "/artimeta.v1.TagService/SetTag"


def _ids() -> tuple[RequestIds, FakeLedger]:
    ledger = FakeLedger()
    return RequestIds(ledger, FakeNamespaceIds({"team-a": 7, "team-b": 8}), retention_s=RETENTION), ledger


class Work:
    """A mutation that counts its runs, writes through the ledger's unit of work, and answers
    with its run number (or raises what it is told to)."""

    def __init__(self, ledger: FakeLedger, fail: errors.DomainError | None = None) -> None:
        self.ledger = ledger
        self.fail = fail
        self.runs = 0

    async def __call__(self) -> str:
        self.runs += 1
        self.ledger.write(f"run {self.runs}")
        if self.fail is not None:
            raise self.fail
        return f"reply {self.runs}"


async def _call(
    ids: RequestIds,
    work: Callable[[], Awaitable[str]],
    rid: str,
    body: bytes = b"body",
    namespace: str | None = "team-a",
) -> str:
    return await ids.once(namespace, METHOD, rid, body, work, str.encode, bytes.decode)


async def test_a_repeat_gets_the_first_reply_without_running_again() -> None:
    ids, ledger = _ids()
    work = Work(ledger)
    rid = str(uuid.uuid4())
    assert [await _call(ids, work, rid) for _ in range(3)] == ["reply 1"] * 3
    assert work.runs == 1
    assert ledger.effects == ["run 1"]
    # Another id is another call.
    assert await _call(ids, work, str(uuid.uuid4())) == "reply 2"


async def test_the_same_id_with_another_body_is_refused() -> None:
    ids, ledger = _ids()
    work = Work(ledger)
    rid = str(uuid.uuid4())
    await _call(ids, work, rid, b"one")
    with pytest.raises(errors.InvalidArgument) as err:
        await _call(ids, work, rid, b"two")
    assert (err.value.reason, err.value.metadata) == ("REQUEST_ID_REUSED", {"field": "request_id"})
    assert work.runs == 1


async def test_ids_are_scoped_by_namespace_and_method() -> None:
    ids, ledger = _ids()
    work = Work(ledger)
    rid = str(uuid.uuid4())
    await _call(ids, work, rid, namespace="team-a")
    await _call(ids, work, rid, namespace="team-b")
    await ids.once("team-a", METHOD + "2", rid, b"body", work, str.encode, bytes.decode)
    assert work.runs == 3


async def test_the_global_scope_is_its_own_namespace() -> None:
    ids, ledger = _ids()
    rid = str(uuid.uuid4())
    await _call(ids, Work(ledger), rid, namespace=None)
    assert [k.namespace_id for k in ledger.rows] == [GLOBAL_NAMESPACE_ID]


@pytest.mark.parametrize(
    "fail",
    [
        errors.AlreadyExists("tag exists", reason=Reason.TAG_EXISTS, metadata={"tag": "t"}),
        errors.NotFound("no graph", reason=Reason.GRAPH_NOT_FOUND),
        errors.Aborted("moved", reason=Reason.TAG_MOVED),
        errors.FailedPrecondition("not registered", reason=Reason.VERSION_NOT_REGISTERED),
    ],
)
async def test_a_lasting_error_is_remembered_and_its_work_undone(fail: errors.DomainError) -> None:
    ids, ledger = _ids()
    work = Work(ledger, fail)
    rid = str(uuid.uuid4())
    for _ in range(2):
        with pytest.raises(type(fail)) as err:
            await _call(ids, work, rid)
        assert (err.value.reason, err.value.message, err.value.metadata) == (fail.reason, fail.message, fail.metadata)
    assert work.runs == 1
    assert ledger.effects == []  # the failed attempt's writes were rolled back


@pytest.mark.parametrize(
    "fail",
    [
        errors.Unavailable("db down", reason=Reason.DATABASE_UNAVAILABLE),
        errors.Aborted("conflict", reason=Reason.TRANSACTION_CONFLICT),
        errors.ResourceExhausted("busy", reason=Reason.AUTH_RATE_LIMITED),
        errors.DeadlineExceeded("slow", reason=Reason.STATEMENT_TIMEOUT),
    ],
)
async def test_a_try_again_error_is_not_remembered(fail: errors.DomainError) -> None:
    ids, ledger = _ids()
    work = Work(ledger, fail)
    rid = str(uuid.uuid4())
    with pytest.raises(type(fail)):
        await _call(ids, work, rid)
    assert ledger.rows == {}
    work.fail = None
    assert await _call(ids, work, rid) == "reply 2"
    assert ledger.effects == ["run 2"]


async def test_a_malformed_id_is_refused_before_the_work() -> None:
    ids, ledger = _ids()
    work = Work(ledger)
    with pytest.raises(errors.InvalidArgument) as err:
        await _call(ids, work, "not-a-uuid")
    assert err.value.reason == "INVALID_REQUEST_ID"
    assert work.runs == 0


async def test_an_unknown_namespace_runs_the_work_unremembered() -> None:
    ids, ledger = _ids()
    work = Work(ledger)
    rid = str(uuid.uuid4())
    await _call(ids, work, rid, namespace="ghost")
    await _call(ids, work, rid, namespace="ghost")
    assert work.runs == 2
    assert ledger.rows == {} and ledger.pins == 0


async def test_an_attempt_that_loses_the_race_is_undone_and_answers_as_the_winner() -> None:
    ids, ledger = _ids()
    rid = str(uuid.uuid4())
    key = RequestKey(7, METHOD, uuid.UUID(rid))

    async def racing() -> str:
        ledger.write("loser's write")
        # The winner commits while this attempt runs.
        ledger.commit_elsewhere(key, Outcome(b"body", reply=b"winner's reply"))
        return "loser's reply"

    assert await _call(ids, racing, rid) == "winner's reply"
    assert ledger.effects == []


async def test_after_the_retention_window_the_id_is_new_again() -> None:
    ids, ledger = _ids()
    work = Work(ledger)
    rid = str(uuid.uuid4())
    await _call(ids, work, rid)
    ledger.clock += RETENTION - 1
    await _call(ids, work, rid)
    assert work.runs == 1
    ledger.clock += 1
    assert await ids.forget_expired() == 1
    assert await _call(ids, work, rid) == "reply 2"
