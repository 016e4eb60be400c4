"""Driver failures are classified by asyncpg's class (one per SQLSTATE) and the error's structured
fields, never by the server's message, which speaks the server's lc_messages language."""

from __future__ import annotations

import asyncpg
import pytest

from artimeta_server.domain import errors
from artimeta_server.storage.postgres import is_unique_violation, translate


def _pg(cls: type[asyncpg.PostgresError], **fields: str) -> asyncpg.PostgresError:
    """An error as the driver builds it from a server's ErrorResponse fields."""
    codes = {"message": "M", "detail": "D", "constraint": "n", "table": "t"}
    made: asyncpg.PostgresError = cls.new({"C": cls.sqlstate, **{codes[k]: v for k, v in fields.items()}})
    return made


@pytest.mark.parametrize(
    ("exc", "kind", "reason"),
    [
        (_pg(asyncpg.SerializationError, message="could not serialize"), errors.Aborted, "TRANSACTION_CONFLICT"),
        (_pg(asyncpg.DeadlockDetectedError, message="Verklemmung"), errors.Aborted, "TRANSACTION_CONFLICT"),
        # Citus relays a worker's deadlock in a distributed COPY as an internal error
        (_pg(asyncpg.InternalServerError, message="deadlock detected"), errors.Aborted, "TRANSACTION_CONFLICT"),
        (_pg(asyncpg.QueryCanceledError, message="annulé"), errors.DeadlineExceeded, "STATEMENT_TIMEOUT"),
        (TimeoutError(), errors.DeadlineExceeded, "STATEMENT_TIMEOUT"),
        (_pg(asyncpg.ReadOnlySQLTransactionError, message="x"), errors.Unavailable, "DATABASE_READ_ONLY"),
        (_pg(asyncpg.exceptions.ConnectionDoesNotExistError), errors.Unavailable, "DATABASE_UNAVAILABLE"),
        (_pg(asyncpg.exceptions.ConnectionFailureError), errors.Unavailable, "DATABASE_UNAVAILABLE"),
        (_pg(asyncpg.exceptions.AdminShutdownError), errors.Unavailable, "DATABASE_UNAVAILABLE"),
        (_pg(asyncpg.exceptions.CrashShutdownError), errors.Unavailable, "DATABASE_UNAVAILABLE"),
        (_pg(asyncpg.CannotConnectNowError), errors.Unavailable, "DATABASE_UNAVAILABLE"),
        (_pg(asyncpg.TooManyConnectionsError), errors.Unavailable, "DATABASE_UNAVAILABLE"),
        (ConnectionRefusedError(), errors.Unavailable, "DATABASE_UNAVAILABLE"),
        (asyncpg.InternalClientError("cannot switch to state 11"), errors.Unavailable, "DATABASE_UNAVAILABLE"),
    ],
)
def test_each_driver_class_has_its_domain_error(exc: BaseException, kind: type, reason: str) -> None:
    got = translate(exc)
    assert isinstance(got, kind)
    assert isinstance(got, errors.DomainError) and got.reason == reason


def test_a_violated_namespace_key_is_the_namespace_gone_in_any_server_language() -> None:
    # The German server's detail names no `table "namespaces"`; the constraint name is the same.
    exc = _pg(
        asyncpg.ForeignKeyViolationError,
        message="Einfügen oder Aktualisieren in Tabelle »blob_keys« verletzt Fremdschlüssel-Constraint",
        detail="Schlüssel (namespace_id)=(7) ist nicht in Tabelle »namespaces« vorhanden.",
        constraint="blob_keys_namespace_id_fkey",
        table="blob_keys",
    )
    got = translate(exc)
    assert isinstance(got, errors.NotFound) and got.reason == "NAMESPACE_NOT_FOUND"


def test_a_citus_shard_of_a_namespace_key_is_the_namespace_gone() -> None:
    exc = _pg(asyncpg.ForeignKeyViolationError, constraint="blob_keys_namespace_id_fkey_102040")
    got = translate(exc)
    assert isinstance(got, errors.NotFound) and got.reason == "NAMESPACE_NOT_FOUND"


def test_without_a_constraint_name_the_detail_names_the_namespaces_placement() -> None:
    # Citus relays a worker's error with its message and detail only.
    exc = _pg(
        asyncpg.ForeignKeyViolationError,
        detail='Key (namespace_id)=(7) is not present in table "namespaces_102009".',
    )
    got = translate(exc)
    assert isinstance(got, errors.NotFound) and got.reason == "NAMESPACE_NOT_FOUND"


@pytest.mark.parametrize(
    "exc",
    [
        # A composite key to another table: a parent row is missing, not the namespace.
        _pg(
            asyncpg.ForeignKeyViolationError,
            detail='Key (namespace_id, op_id)=(7, 9) is not present in table "opstore_ops".',
            constraint="opstore_versions_namespace_id_op_id_fkey",
        ),
        _pg(asyncpg.UniqueViolationError, constraint="namespaces_name_key"),
        _pg(asyncpg.UndefinedTableError, message='relation "x" does not exist'),
        # No SQLSTATE and no connection to look at: a misuse, whatever its text says.
        asyncpg.InterfaceError("connection is closed"),
    ],
)
def test_other_driver_errors_stay_what_they_are(exc: BaseException) -> None:
    assert translate(exc) is exc


def test_a_unique_violation_relayed_by_citus_is_one() -> None:
    relayed = _pg(asyncpg.InternalServerError, message='duplicate key value violates unique constraint "k_102030"')
    assert is_unique_violation(relayed)
    assert is_unique_violation(_pg(asyncpg.UniqueViolationError))
    assert not is_unique_violation(_pg(asyncpg.InternalServerError, message="cache lookup failed"))
