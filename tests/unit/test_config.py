from __future__ import annotations

import dataclasses

import pytest

from artimeta_server.config import ConfigError, Settings


def test_defaults_listen_on_loopback() -> None:
    s = Settings.from_env({})
    assert s.listen == "127.0.0.1:50051"
    assert s.inline_document_limit == 256 * 1024


def test_reads_typed_values_from_env() -> None:
    s = Settings.from_env(
        {
            "ARTIMETA_DB_POOL_MAX": "32",
            "ARTIMETA_S3_SECURE": "true",
            "ARTIMETA_SHUTDOWN_GRACE_S": "2.5",
            "ARTIMETA_S3_BUCKET": "bkt",
        }
    )
    assert (s.db_pool_max, s.s3_secure, s.shutdown_grace_s, s.s3_bucket) == (32, True, 2.5, "bkt")


@pytest.mark.parametrize(
    "env",
    [
        {"ARTIMETA_DB_POOL_MAX": "many"},
        {"ARTIMETA_S3_SECURE": "perhaps"},
        {"ARTIMETA_S3_BUCKET": "ab"},
        {"ARTIMETA_DB_POOL_MIN": "9", "ARTIMETA_DB_POOL_MAX": "3"},
    ],
)
def test_rejects_bad_values(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.listen = "0.0.0.0:1"  # type: ignore[misc]


def test_redacted_hides_secrets() -> None:
    s = Settings.from_env(
        {"ARTIMETA_S3_SECRET_KEY": "sekrit", "ARTIMETA_DATABASE_URL": "postgresql://app:pw123@db:5432/x"}
    )
    text = repr(s.redacted())
    assert "sekrit" not in text and "pw123" not in text
    assert "postgresql://app:***@db:5432/x" in text
