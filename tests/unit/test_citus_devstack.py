"""Where the Citus layer finds its source, and why it skips when it cannot have Citus."""

from __future__ import annotations

from pathlib import Path

import pytest

from artimeta_server.devstack import citus


def test_source_is_found_beside_the_clone_or_a_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARTIMETA_CITUS_SOURCE", raising=False)
    vendor = tmp_path / "shared" / "vendor"
    vendor.mkdir(parents=True)
    tarball = vendor / f"citus-{citus.VERSION}.tar.gz"
    tarball.write_bytes(b"x")
    clone = tmp_path / "clone"
    worktree = tmp_path / "wt" / "branch"
    for repo in (clone, worktree):
        repo.mkdir(parents=True)
        assert citus.find_source(repo) == tarball


def test_a_tarball_with_another_digest_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / f"citus-{citus.VERSION}.tar.gz"
    bad.write_bytes(b"not citus")
    with pytest.raises(citus.Unavailable, match="expected " + citus.SHA256):
        citus.verify(bad)


def test_without_source_or_cache_the_layer_is_unavailable_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIMETA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ARTIMETA_CITUS_SOURCE", str(tmp_path / "missing.tar.gz"))
    monkeypatch.setattr(citus, "installed", lambda: False)
    try:
        citus.pg_config()
    except FileNotFoundError:
        pytest.skip("no Postgres binaries")
    with pytest.raises(citus.Unavailable, match="no Citus source"):
        citus.ensure_installed(tmp_path)
