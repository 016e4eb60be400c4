"""Roles are ordered, a grant binds one namespace or every namespace, and only an all-namespace
grant reaches an operation over every namespace."""

from __future__ import annotations

import pytest

from artimeta_server.domain.auth.models import ALL_NAMESPACES, Grant, Principal, Role, parse_grant
from artimeta_server.domain.errors import InvalidArgument, PermissionDenied


def _as(*grants: Grant) -> Principal:
    return Principal(subject="token:t", grants=grants)


def test_each_role_may_do_what_the_ones_below_it_may() -> None:
    p = _as(Grant("team-a", Role.WRITER))
    assert p.allows("team-a", Role.READER)
    assert p.allows("team-a", Role.WRITER)
    assert not p.allows("team-a", Role.ADMIN)


def test_a_namespace_grant_reaches_that_namespace_only() -> None:
    p = _as(Grant("team-a", Role.ADMIN))
    assert p.allows("team-a", Role.ADMIN)
    assert not p.allows("team-b", Role.READER)
    assert not p.allows("team-a-2", Role.READER)
    # An operation over every namespace (list, create) is out of a namespace grant's reach.
    assert not p.allows(None, Role.READER)


def test_an_all_namespace_grant_reaches_every_namespace_and_the_global_operations() -> None:
    p = _as(Grant(ALL_NAMESPACES, Role.READER))
    assert p.allows("anything", Role.READER)
    assert p.allows(None, Role.READER)
    assert not p.allows(None, Role.WRITER)


def test_grants_add_up() -> None:
    p = _as(Grant("team-a", Role.READER), Grant("team-b", Role.ADMIN))
    assert p.allows("team-b", Role.ADMIN) and p.allows("team-a", Role.READER)
    assert not p.allows("team-a", Role.WRITER)


def test_a_refusal_says_which_role_on_which_namespace() -> None:
    p = _as(Grant("team-a", Role.READER))
    with pytest.raises(PermissionDenied) as err:
        p.require("team-a", Role.WRITER)
    assert err.value.reason == "PERMISSION_DENIED"
    assert err.value.metadata == {"namespace": "team-a", "role": "writer"}
    with pytest.raises(PermissionDenied) as err:
        p.require(None, Role.READER)
    assert err.value.metadata == {"namespace": "*", "role": "reader"}
    p.require("team-a", Role.READER)


def test_roles_and_grants_parse_from_text() -> None:
    assert Role.parse(" Admin ") is Role.ADMIN
    assert Role.WRITER.label == "writer"
    assert parse_grant("team-a:reader") == Grant("team-a", Role.READER)
    assert parse_grant("*:admin") == Grant("*", Role.ADMIN)
    assert parse_grant("a:b:writer") == Grant("a:b", Role.WRITER)
    for bad, reason in (("owner", "INVALID_ROLE"), ("team-a", "INVALID_GRANT"), (":reader", "INVALID_GRANT")):
        with pytest.raises(InvalidArgument) as err:
            Role.parse(bad) if reason == "INVALID_ROLE" else parse_grant(bad)
        assert err.value.reason == reason
    with pytest.raises(InvalidArgument) as err:
        parse_grant("team-a:owner")
    assert err.value.reason == "INVALID_ROLE"
