"""statisfactory byte backend on artimeta's keyed objects, for `artimeta://<namespace>/<key>`.

statisfactory's `Backend` registers subclasses by URL scheme (`__init_subclass__(prefix=...)`)
and calls `put(*, payload, fragment, **kwargs)` / `get(*, fragment, **kwargs)` with the parsed
URL. The real package needs Python < 3.11, so this backend is duck-typed: when statisfactory is
importable it is also registered there under the `artimeta` scheme; otherwise `BACKENDS` here
applies the same rules (a duplicate scheme or an unknown one is an error).

    backend = ArtimetaBackend(target="127.0.0.1:50051")
    backend.put(payload=b"...", fragment=urlparse("artimeta://team-a/models/latest.pkl"))
    backend.get(fragment=urlparse("artimeta://team-a/models/latest.pkl"))

`put` overwrites; identical payloads under several keys are stored once; a missing key raises
`ArtefactNotFound` (an `artimeta.NotFound` and a `KeyError`).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, Optional, Tuple, Type, TypeVar
from urllib.parse import ParseResult, urlparse

import artimeta
from artimeta.blobs import Blobs

SCHEME = "artimeta"
T = TypeVar("T")


class DuplicateScheme(ValueError):
    """A backend is already registered under this URL scheme."""


class UnknownScheme(KeyError):
    """No backend is registered under this URL scheme."""


class ArtefactNotFound(artimeta.NotFound, KeyError):
    """No payload is stored under this URL."""


class BackendRegistry:
    """statisfactory's registration rules: one backend class per scheme."""

    def __init__(self) -> None:
        self._by_scheme: Dict[str, Type[Any]] = {}
        self._lock = threading.Lock()

    def register(self, scheme: str) -> Callable[[Type[T]], Type[T]]:
        def add(cls: Type[T]) -> Type[T]:
            with self._lock:
                if scheme in self._by_scheme and self._by_scheme[scheme] is not cls:
                    raise DuplicateScheme(f"a backend is already registered for {scheme}://")
                self._by_scheme[scheme] = cls
            return cls

        return add

    def backends(self) -> Dict[str, Type[Any]]:
        return dict(self._by_scheme)

    def for_url(self, url: str) -> Type[Any]:
        scheme = urlparse(url).scheme
        try:
            return self._by_scheme[scheme]
        except KeyError:
            raise UnknownScheme(f"no backend for {scheme or '(no scheme)'}:// in {url!r}") from None


BACKENDS = BackendRegistry()


def split(fragment: ParseResult) -> Tuple[str, str]:
    """(namespace, key) of `artimeta://<namespace>/<key>`."""
    if fragment.scheme != SCHEME:
        raise artimeta.InvalidArgument(f"not an {SCHEME}:// url: {fragment.geturl()!r}", reason="INVALID_URL")
    namespace, key = fragment.netloc, fragment.path.lstrip("/")
    if not namespace or not key:
        raise artimeta.InvalidArgument(
            f"{fragment.geturl()!r} must look like {SCHEME}://<namespace>/<key>", reason="INVALID_URL"
        )
    return namespace, key


@BACKENDS.register(SCHEME)
class ArtimetaBackend:
    """put/get bytes by `artimeta://<namespace>/<key>` URL over artimeta keyed objects."""

    prefix = SCHEME

    def __init__(
        self,
        session: Any = None,
        *,
        target: Optional[str] = None,
        namespace: Optional[str] = None,
        token: Optional[str] = None,
        create_namespace: bool = True,
        **client_options: Any,
    ) -> None:
        self.session = session
        self.target = target or os.environ.get("ARTIMETA_TARGET", "127.0.0.1:50051")
        self.namespace = namespace  # when set, URLs must name this namespace
        # A namespace a URL names is created on its first use; False expects it to exist.
        self.create_namespace = create_namespace
        self._client = artimeta.Client(self.target, token=token, **client_options)

    def _blobs(self, fragment: ParseResult) -> Tuple[Blobs, str]:
        namespace, key = split(fragment)
        if self.namespace is not None and namespace != self.namespace:
            raise artimeta.InvalidArgument(
                f"this backend serves namespace {self.namespace!r}, not {namespace!r}", reason="WRONG_NAMESPACE"
            )
        self._client.ensure_namespace(namespace, create=self.create_namespace, description="statisfactory artefacts")
        return self._client.namespace(namespace).blobs, key

    def put(self, *, payload: bytes, fragment: ParseResult, **kwargs: Any) -> None:
        """Stores `payload` under the URL, replacing what was there."""
        blobs, key = self._blobs(fragment)
        blobs.put_object(key, bytes(payload))

    def get(self, *, fragment: ParseResult, **kwargs: Any) -> bytes:
        """The payload stored under the URL; ArtefactNotFound when there is none."""
        blobs, key = self._blobs(fragment)
        try:
            return blobs.get_object(key)
        except artimeta.NotFound as err:
            if err.reason == "NAMESPACE_NOT_FOUND":
                raise
            raise ArtefactNotFound(
                f"nothing stored at {fragment.geturl()}", reason="KEY_NOT_FOUND", metadata={"key": key}
            ) from None

    def close(self) -> None:
        self._client.close()


def _register_with_statisfactory() -> None:
    """Registers under statisfactory's own Backend when it is importable (Python < 3.11)."""
    try:
        from statisfactory.IO.artefacts.backend import Backend  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - statisfactory is optional and often not installable
        return
    if SCHEME in Backend.backends():
        return
    type("StatisfactoryArtimetaBackend", (ArtimetaBackend, Backend), {}, prefix=SCHEME)


_register_with_statisfactory()

__all__ = ["BACKENDS", "ArtefactNotFound", "ArtimetaBackend", "BackendRegistry", "DuplicateScheme", "UnknownScheme"]
