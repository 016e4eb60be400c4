"""`python -m artimeta.transfer`: move big data in and out of artimeta from a shell, with a
progress bar on stderr.

    python -m artimeta.transfer --target 127.0.0.1:50051 --namespace team-a upload model.bin [--key models/latest]
    python -m artimeta.transfer ... download <sha256>/<size> copy.bin
    python -m artimeta.transfer ... get-key models/latest copy.bin
    python -m artimeta.transfer ... commit-dir <uuid> ./run
    python -m artimeta.transfer ... retrieve-dir <uuid> ./copy
    python -m artimeta.transfer ... export-tar <uuid> - | tar -x -C ./copy
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional, TextIO

from artimeta.blobs import Digest
from artimeta.client import Client
from artimeta.errors import ArtimetaError


class ProgressBar:
    """A one-line progress bar: `[#####.....]  42% 420.0/1000.0 MiB  85.3 MiB/s`."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.label = label
        self.stream = stream
        self.width = width
        self.start = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done != total:
            return
        self._last = now
        rate = done / max(now - self.start, 1e-6) / 2**20
        if total > 0:
            filled = int(self.width * done / total)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"{self.label} [{bar}] {100 * done / total:5.1f}% {done / 2**20:.1f}/{total / 2**20:.1f} MiB"
        else:
            text = f"{self.label} {done / 2**20:.1f} MiB"
        self.stream.write(f"\r{text} {rate:7.1f} MiB/s")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def parse_digest(text: str) -> Digest:
    hash_hex, _, size = text.partition("/")
    return Digest(hash_hex, int(size))


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m artimeta.transfer", description=__doc__.splitlines()[0])
    p.add_argument("--target", default="127.0.0.1:50051")
    p.add_argument("--namespace", required=True)
    p.add_argument("--token")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upload", help="upload a file; prints its digest")
    up.add_argument("path")
    up.add_argument("--key", help="also point this key at it")
    down = sub.add_parser("download", help="download a blob by digest (<sha256>/<size>) to a file")
    down.add_argument("digest")
    down.add_argument("path")
    gk = sub.add_parser("get-key", help="download the blob a key points at")
    gk.add_argument("key")
    gk.add_argument("path")
    cd = sub.add_parser("commit-dir", help="commit a directory as a record")
    cd.add_argument("uuid")
    cd.add_argument("path")
    rd = sub.add_parser("retrieve-dir", help="retrieve a record into a directory")
    rd.add_argument("uuid")
    rd.add_argument("path")
    et = sub.add_parser("export-tar", help="stream a record as a tar archive to a file ('-' for stdout)")
    et.add_argument("uuid")
    et.add_argument("path")
    args = p.parse_args(argv)

    bar = None if args.quiet else ProgressBar(args.command)
    try:
        with Client(args.target, token=args.token) as client:
            ns = client.namespace(args.namespace)
            blobs = ns.blobs
            if args.command == "upload":
                digest = blobs.upload_file(args.path, progress=bar)
                if args.key:
                    blobs.set_key(args.key, digest)
                result = str(digest)
            elif args.command == "download":
                blobs.download_to_file(parse_digest(args.digest), args.path, progress=bar)
                result = args.path
            elif args.command == "get-key":
                blobs.download_to_file(blobs.get_key(args.key), args.path, progress=bar)
                result = args.path
            elif args.command == "commit-dir":
                stats = ns.records.commit_directory(args.uuid, args.path, progress=bar)
                result = f"{stats.files} files, {stats.uploaded_files} sent ({stats.uploaded_bytes} bytes)"
            elif args.command == "export-tar":
                records = ns.records
                if args.path == "-":
                    records.export_tar(args.uuid, sys.stdout.buffer, progress=bar)
                    result = ""
                else:
                    with open(args.path, "wb") as f:
                        records.export_tar(args.uuid, f, progress=bar)
                    result = args.path
            else:
                ns.records.retrieve_directory(args.uuid, args.path, progress=bar)
                result = args.path
    except ArtimetaError as err:
        if bar is not None:
            bar.finish()
        print(f"error: {err}", file=sys.stderr)
        return 1
    if bar is not None:
        bar.finish()
    if result:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
