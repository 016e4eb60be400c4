"""`python -m artimeta.transfer`: big data from a shell, with a progress bar."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


async def cli(target: str, namespace: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "artimeta.transfer",
        "--target",
        target,
        "--namespace",
        namespace,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_upload_download_and_directories(blob_target: str, blob_ns: str, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(6 * 1024 * 1024 + 3))
    code, out, err = await cli(blob_target, blob_ns, "upload", str(src), "--key", "latest")
    assert code == 0, err
    assert "100.0%" in err and "MiB/s" in err
    digest = out.strip()
    code, _, err = await cli(blob_target, blob_ns, "download", digest, str(tmp_path / "a.bin"))
    assert code == 0, err
    code, _, err = await cli(blob_target, blob_ns, "get-key", "latest", str(tmp_path / "b.bin"))
    assert code == 0, err
    assert (tmp_path / "a.bin").read_bytes() == src.read_bytes() == (tmp_path / "b.bin").read_bytes()
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / ".x").write_text("x")
    code, out, err = await cli(blob_target, blob_ns, "commit-dir", "cli000000001", str(tree))
    assert code == 0 and out.startswith("1 files, 1 sent"), err
    code, _, err = await cli(blob_target, blob_ns, "retrieve-dir", "cli000000001", str(tmp_path / "copy"))
    assert code == 0, err
    assert (tmp_path / "copy" / "sub" / ".x").read_text() == "x"
    code, _, err = await cli(blob_target, blob_ns, "export-tar", "cli000000001", str(tmp_path / "r.tar"))
    assert code == 0, err
    import tarfile

    with tarfile.open(tmp_path / "r.tar") as tar:
        assert sorted(tar.getnames()) == ["sub", "sub/.x"]
    code, _, err = await cli(blob_target, blob_ns, "get-key", "missing", str(tmp_path / "c.bin"))
    assert code == 1 and "KEY_NOT_FOUND" in err
