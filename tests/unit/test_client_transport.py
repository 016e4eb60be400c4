"""The Python client's transport options: token or token file (re-read on change), TLS material
from arguments or ARTIMETA_CLIENT_* variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trustme

from artimeta._channel import TokenSource, transport


def test_token_file_is_read_again_after_a_change(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    source = TokenSource(token_file=str(path))
    assert source.metadata() == (("authorization", "Bearer first"),)
    path.write_text("second-token\n")
    os.utime(path, ns=(1, 2))  # a different mtime even within the clock's resolution
    assert source.metadata() == (("authorization", "Bearer second-token"),)


def test_token_and_token_file_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TokenSource(token="a", token_file=str(tmp_path / "t"))
    assert TokenSource().metadata() == ()


def test_environment_supplies_what_arguments_do_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("ARTIMETA_CLIENT_CA_FILE", str(ca_file))
    monkeypatch.setenv("ARTIMETA_CLIENT_TOKEN", "from-env")
    t = transport(
        token=None, token_file=None, root_certificates=None, private_key=None, certificate_chain=None, secure=None
    )
    assert t.credentials is not None
    assert t.token.metadata() == (("authorization", "Bearer from-env"),)
    explicit = transport(
        token="given", token_file=None, root_certificates=None, private_key=None, certificate_chain=None, secure=False
    )
    assert explicit.credentials is None and explicit.token.metadata() == (("authorization", "Bearer given"),)


def test_plaintext_without_tls_material(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "ARTIMETA_CLIENT_CA_FILE",
        "ARTIMETA_CLIENT_CERT_FILE",
        "ARTIMETA_CLIENT_TOKEN",
        "ARTIMETA_CLIENT_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    t = transport(
        token=None, token_file=None, root_certificates=None, private_key=None, certificate_chain=None, secure=None
    )
    assert t.credentials is None and t.token.metadata() == ()
