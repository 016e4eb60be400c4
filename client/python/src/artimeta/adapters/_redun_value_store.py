"""redun's ValueStore on artimeta's BlobService, and an `artimeta://` redun FileSystem so that
redun's own config can point its value store at artimeta:

    # .redun/redun.ini
    [backend]
    value_store_path = artimeta://127.0.0.1:50051/<namespace>/redun/values
    value_store_min_size = 1024

    # the workflow module
    import artimeta.adapters.redun  # registers the artimeta:// filesystem with redun

redun builds its value store from `value_store_path` itself (it has no setting for a ValueStore
class), and every access goes through redun's FileSystem registry; the `artimeta` filesystem maps
`artimeta://<target>/<namespace>/<key>` onto artimeta's keyed objects. `ArtimetaValueStore` is
the same store as an object: value `abcdef…` is the key `redun/values/ab/cdef…`, whose bytes are a
content-addressed blob (so identical values under several hashes are stored once).
"""

from __future__ import annotations

import importlib
import io
import threading
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple

import artimeta
from artimeta.blobs import Blobs


def _optional(module: str, name: str, default: Any) -> Any:
    """redun is optional: the module imports without it and subclasses redun's types with it."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        return default


_ValueStoreBase: Any = _optional("redun.backends.value_store", "ValueStore", object)
_FileSystemBase: Any = _optional("redun.file", "FileSystem", object)
_register: Any = _optional("redun.file", "register_filesystem", None)

SCHEME = "artimeta"
DEFAULT_PREFIX = "redun/values"
_DESCRIPTION = "redun values"

_clients: Dict[Tuple[str, Optional[str]], artimeta.Client] = {}
_clients_lock = threading.Lock()


def _client(target: str, token: Optional[str] = None, **options: Any) -> artimeta.Client:
    """One channel per (target, token) in a process, shared by every store and path."""
    with _clients_lock:
        client = _clients.get((target, token))
        if client is None:
            client = _clients[(target, token)] = artimeta.Client(target, token=token, **options)
        return client


def _namespace_blobs(target: str, namespace: str) -> Blobs:
    """The objects of a namespace an `artimeta://` path names, the namespace created on first use
    (redun opens paths by URL only: there is no place for options)."""
    client = _client(target)
    client.ensure_namespace(namespace, description=_DESCRIPTION)
    return client.namespace(namespace).blobs


class ArtimetaValueStore(_ValueStoreBase):  # type: ignore[misc]
    """redun's ValueStore contract on artimeta: `put` is a no-op when present, `get` returns
    `(bytes, True)` or `(b"", False)`, `size` is -1 when missing, `has`."""

    def __init__(
        self,
        *,
        target: str,
        namespace: str,
        prefix: str = DEFAULT_PREFIX,
        token: Optional[str] = None,
        create_namespace: bool = True,
        **client_options: Any,
    ) -> None:
        self.target = target
        self.namespace = namespace
        self.prefix = prefix.strip("/")
        self.root_path = f"{SCHEME}://{target}/{namespace}/{self.prefix}"
        self.use_subdir = True
        self.create_namespace = create_namespace
        self._client = _client(target, token, **client_options)
        self._ready: Optional[Blobs] = None

    @property
    def _blobs(self) -> Blobs:
        """The namespace's objects; a missing namespace is created on first use."""
        if self._ready is None:
            self._client.ensure_namespace(self.namespace, create=self.create_namespace, description=_DESCRIPTION)
            self._ready = self._client.namespace(self.namespace).blobs
        return self._ready

    def _key(self, value_hash: str) -> str:
        return f"{self.prefix}/{value_hash[:2]}/{value_hash[2:]}"

    def get_value_path(self, value_hash: str) -> str:
        return f"{self.root_path}/{value_hash[:2]}/{value_hash[2:]}"

    def has(self, value_hash: str) -> bool:
        return self.size(value_hash) >= 0

    def put(self, value_hash: str, data: bytes) -> None:
        if self.has(value_hash):
            return
        self._blobs.put_object(self._key(value_hash), bytes(data))

    def get(self, value_hash: str) -> Tuple[bytes, bool]:
        try:
            return self._blobs.get_object(self._key(value_hash)), True
        except artimeta.NotFound:
            return b"", False

    def size(self, value_hash: str) -> int:
        try:
            return self._blobs.get_key(self._key(value_hash)).size
        except artimeta.NotFound:
            return -1


def parse_url(path: str) -> Tuple[str, str, str]:
    """`artimeta://host:port/namespace/key…` -> (target, namespace, key)."""
    if not path.startswith(f"{SCHEME}://"):
        raise ValueError(f"not an {SCHEME}:// url: {path!r}")
    rest = path[len(SCHEME) + 3 :]
    target, _, tail = rest.partition("/")
    namespace, _, key = tail.partition("/")
    if not target or not namespace:
        raise ValueError(f"{path!r} must look like {SCHEME}://<host:port>/<namespace>/<key>")
    return target, namespace, key


class _Upload(io.BytesIO):
    """A write stream that stores its bytes under the key when closed."""

    def __init__(self, blobs: Blobs, key: str) -> None:
        super().__init__()
        self._blobs = blobs
        self._key = key

    def close(self) -> None:
        if not self.closed:
            self._blobs.put_object(self._key, self.getvalue())
        super().close()


class ArtimetaFileSystem(_FileSystemBase):  # type: ignore[misc]
    """redun FileSystem for `artimeta://<host:port>/<namespace>/<key>` over keyed objects."""

    name = SCHEME

    def _blobs(self, path: str) -> Tuple[Blobs, str]:
        target, namespace, key = parse_url(path)
        return _namespace_blobs(target, namespace), key

    def _open(self, path: str, mode: str, **kwargs: Any) -> IO[bytes]:
        blobs, key = self._blobs(path)
        if "r" in mode:
            try:
                return io.BytesIO(blobs.get_object(key))
            except artimeta.NotFound as err:
                raise FileNotFoundError(path) from err
        if "a" in mode:
            raise OSError(f"{SCHEME}:// objects cannot be appended to")
        return _Upload(blobs, key)

    def exists(self, path: str) -> bool:
        return self.filesize_or_none(path) is not None

    def filesize_or_none(self, path: str) -> Optional[int]:
        blobs, key = self._blobs(path)
        try:
            return blobs.get_key(key).size
        except artimeta.NotFound:
            return None

    def filesize(self, path: str) -> int:
        size = self.filesize_or_none(path)
        if size is None:
            raise FileNotFoundError(path)
        return size

    def remove(self, path: str) -> None:
        blobs, key = self._blobs(path)
        blobs.delete_object(key, allow_missing=True)

    def mkdir(self, path: str) -> None:
        """Keys need no directories."""

    def rmdir(self, path: str, recursive: bool = False) -> None:
        blobs, key = self._blobs(path)
        if recursive:
            for entry in list(blobs.list_objects(key.rstrip("/") + "/")):
                blobs.delete_object(entry.key, allow_missing=True)

    def get_hash(self, path: str) -> str:
        blobs, key = self._blobs(path)
        try:
            return blobs.get_key(key).hash[:40]
        except artimeta.NotFound as err:
            raise FileNotFoundError(path) from err

    def glob(self, pattern: str) -> List[str]:
        import fnmatch

        target, namespace, key_pattern = parse_url(pattern)
        blobs = _namespace_blobs(target, namespace)
        literal = key_pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
        base = f"{SCHEME}://{target}/{namespace}/"
        return [base + e.key for e in blobs.list_objects(literal) if fnmatch.fnmatchcase(e.key, key_pattern)]

    def isfile(self, path: str) -> bool:
        return self.exists(path)

    def isdir(self, path: str) -> bool:
        blobs, key = self._blobs(path)
        return any(True for _ in _first(blobs.list_objects(key.rstrip("/") + "/", page_size=1)))


def _first(items: Iterator[Any]) -> Iterator[Any]:
    for item in items:
        yield item
        return


if _register is not None:
    _register(ArtimetaFileSystem)

__all__ = ["ArtimetaFileSystem", "ArtimetaValueStore", "parse_url"]
