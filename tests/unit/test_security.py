"""Roles, grants, the access table's defaults, token format and settings rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from artimeta_server.commands.token import parse_expiry
from artimeta_server.config import ConfigError, Settings
from artimeta_server.domain.auth.models import Grant, Principal, Role, parse_grant
from artimeta_server.domain.auth.token_format import split_token
from artimeta_server.domain.errors import InvalidArgument, PermissionDenied
from artimeta_server.rpc import access


def test_roles_are_ordered_and_scoped() -> None:
    p = Principal("token:x", (Grant("team-a", Role.WRITER),))
    assert p.allows("team-a", Role.READER) and p.allows("team-a", Role.WRITER)
    assert not p.allows("team-a", Role.ADMIN)
    assert not p.allows("team-b", Role.READER)
    assert not p.allows(None, Role.READER)  # every-namespace operations need a "*" grant
    root = Principal("token:r", (Grant("*", Role.READER),))
    assert root.allows(None, Role.READER) and root.allows("anything", Role.READER)
    assert not root.allows("anything", Role.WRITER)
    with pytest.raises(PermissionDenied) as err:
        p.require("team-b", Role.READER)
    assert err.value.reason == "PERMISSION_DENIED" and err.value.metadata["namespace"] == "team-b"


def test_undeclared_methods_need_writer_on_their_namespace() -> None:
    rule = access.rule_for("/artimeta.v1.SomethingNew/DoIt")
    assert rule.role is Role.WRITER and rule.field == "namespace" and not rule.open
    assert access.rule_for("/other.v1.Service/Call").field is None  # needs a "*" grant
    get = access.rule_for("/artimeta.v1.NamespaceService/GetNamespace")
    assert get.role is Role.READER and get.field == "name"
    assert access.rule_for("/artimeta.v1.NamespaceService/CreateNamespace").field is None


def test_declaring_a_method_twice_is_refused() -> None:
    access.declare("artimeta.v1.UnitTestService", read={"A"})
    with pytest.raises(ValueError, match="twice"):
        access.declare("artimeta.v1.UnitTestService", write={"A"})


def test_namespace_of_follows_dotted_fields() -> None:
    req = SimpleNamespace(namespace=SimpleNamespace(name="ns-1"), other=3)
    assert access.namespace_of(req, "namespace.name") == "ns-1"
    assert access.namespace_of(req, "namespace") is None  # not a string
    assert access.namespace_of(req, "missing") is None
    assert access.namespace_of(req, None) is None


def test_token_format() -> None:
    assert split_token("amt_0123456789abcdef_secret") == ("0123456789abcdef", "secret")
    for bad in ("", "amt_", "amt_short_x", "xyz_0123456789abcdef_s", "amt_0123456789abcdef_"):
        assert split_token(bad) is None


def test_grants_and_roles_parse() -> None:
    assert parse_grant("team-a:writer") == Grant("team-a", Role.WRITER)
    assert parse_grant("*:admin") == Grant("*", Role.ADMIN)
    for bad in ("team-a", ":reader", "team-a:owner"):
        with pytest.raises(InvalidArgument):
            parse_grant(bad)


def test_expiry_accepts_durations_and_times() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_expiry("30m", now) == now + timedelta(minutes=30)
    assert parse_expiry("2027-01-01T00:00:00", now) == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_expiry("soon", now)


def test_transport_and_auth_settings() -> None:
    with pytest.raises(ConfigError, match="ARTIMETA_PLAINTEXT"):
        Settings.from_env({}).validate_serving()
    Settings.from_env({"ARTIMETA_PLAINTEXT": "true"}).validate_serving()
    Settings.from_env({"ARTIMETA_TLS_CERT_FILE": "c", "ARTIMETA_TLS_KEY_FILE": "k"}).validate_serving()
    for env in (
        {"ARTIMETA_TLS_CERT_FILE": "c"},
        {"ARTIMETA_TLS_CLIENT_CA_FILE": "ca"},
        {"ARTIMETA_PLAINTEXT": "true", "ARTIMETA_TLS_CERT_FILE": "c", "ARTIMETA_TLS_KEY_FILE": "k"},
        {"ARTIMETA_AUTH": "off"},
        {"ARTIMETA_WORKERS": "0"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(env)
    assert Settings.from_env({}).auth == "tokens"
    assert "grpc.health.v1.Health" in Settings.from_env({}).open_services
