"""machinable 5.1.0 storage on artimeta's RecordService.

    import machinable

    with machinable.get("artimeta.adapters.machinable", {"target": "127.0.0.1:50051", "namespace": "team-a"}):
        machinable.get("my_experiment", {"lr": 0.1}).launch()   # committed to artimeta

    # elsewhere, in another process
    storage = machinable.get("artimeta.adapters.machinable", {"target": ..., "namespace": "team-a"})
    storage.download(uuid, "./records")   # the record and its related records, byte-identical

A record directory is committed as a manifest of content-addressed blobs: files the server
already has are never sent again. `contains` is true only when the record is indexed and all its
bytes are present. machinable is imported only when this module is.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

from machinable.storage import Storage  # type: ignore[import-not-found]

import artimeta
from artimeta.records import Records

_clients: Dict[Tuple[str, Optional[str]], artimeta.Client] = {}


def _client(target: str, token: Optional[str]) -> artimeta.Client:
    client = _clients.get((target, token))
    if client is None:
        client = _clients[(target, token)] = artimeta.Client(target, token=token)
    return client


def _relations(directory: str) -> List[Tuple[str, str]]:
    """The related uuids machinable logged in `related/metadata.jsonl` (both directions)."""
    path = os.path.join(directory, "related", "metadata.jsonl")
    out: List[Tuple[str, str]] = []
    if not os.path.isfile(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                edge = json.loads(line)
            except ValueError:
                continue
            name = str(edge.get("relation") or edge.get("name") or "")
            for key in ("uuid", "related_uuid"):
                value = edge.get(key)
                if isinstance(value, str) and value:
                    out.append((value, name))
    return sorted(set(out))


class ArtimetaStorage(Storage):  # type: ignore[misc]
    """Durable home for record directories in an artimeta namespace."""

    class Config(Storage.Config):  # type: ignore[misc]
        """`directory` stays the local root (walk() materializes records there)."""

        target: str = "127.0.0.1:50051"
        namespace: str = "default"
        token: Optional[str] = None
        # A missing namespace is created on first use; False expects it to exist (NotFound otherwise).
        create_namespace: bool = True

    @property
    def id(self) -> str:
        return "artimeta"

    @property
    def records(self) -> Records:
        cfg = self.config
        client = _client(cfg.target, cfg.token)
        client.ensure_namespace(cfg.namespace, create=cfg.create_namespace, description="machinable records")
        return client.namespace(cfg.namespace).records

    def home_uri(self, uuid: str) -> str:
        return f"artimeta://{self.config.target}/{self.config.namespace}/{uuid}"

    # -- machinable's provider interface ---------------------------------------------------------

    def commit(self, interface: Any) -> None:
        if not interface.is_materialized():
            interface.materialize()
        uuid = str(interface.uuid)
        src = interface.local_directory(create=False)
        if not src or not os.path.isdir(src):
            return
        metadata = {"kind": str(interface.kind or ""), "module": str(interface.module or "")}
        entry = _index_entry(uuid)
        if entry is not None:
            metadata["identity_key"] = entry.identity_key
            metadata["predicate_key"] = entry.predicate_key
        self.records.commit_directory(
            uuid, src, metadata=metadata, relations=[(r, n) for r, n in _relations(src) if r != uuid]
        )

    def update(self, interface: Any) -> None:
        self.commit(interface)

    def contains(self, uuid: str) -> bool:
        try:
            return self.records.contains(uuid)
        except artimeta.InvalidArgument:
            return False

    def retrieve(self, uuid: str, local_directory: str) -> bool:
        try:
            self.records.retrieve_directory(uuid, local_directory)
        except (artimeta.NotFound, artimeta.InvalidArgument):
            return False
        return True

    def delete(self, uuid: str) -> bool:
        try:
            return self.records.delete(uuid)
        except artimeta.InvalidArgument:
            return False

    def pull(self, uuid: str, into: Optional[str] = None) -> Optional[str]:
        target = into
        if target is None:
            from machinable.index import Index  # type: ignore[import-not-found]

            target = Index.get().local_directory(uuid)
        if not self.retrieve(uuid, target):
            return None
        return "file://" + os.path.abspath(target)

    def push(self, local: str, uuid: str) -> str:
        path = local[len("file://") :] if local.startswith("file://") else local
        if os.path.isdir(path):
            self.records.commit_directory(uuid, path, relations=[(r, n) for r, n in _relations(path) if r != uuid])
        return self.home_uri(uuid)

    def walk(self) -> Iterator[str]:
        """Materializes every record of the namespace under the storage root and yields its
        directory (what Index.reindex walks)."""
        root = self.root()
        for record in self.records.list():
            directory = os.path.join(root, record.uuid)
            if self.retrieve(record.uuid, directory):
                yield directory

    def search_for(self, interface: Any) -> List[str]:
        """Record ids of the same interface: same module and, when known, the same predicate."""
        metadata = {"module": str(interface.module or "")}
        uuid = getattr(interface, "uuid", None)
        entry = _index_entry(str(uuid)) if uuid and interface.is_materialized() else None
        if entry is not None:
            metadata["predicate_key"] = entry.predicate_key
        return [r.uuid for r in self.records.list(metadata=metadata)]


def _index_entry(uuid: str) -> Any:
    try:
        from machinable.index import Index

        return Index.get().get_by_id(uuid)
    except Exception:  # noqa: BLE001 - no index connected: metadata is optional
        return None


__all__ = ["ArtimetaStorage"]
