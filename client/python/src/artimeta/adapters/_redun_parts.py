"""What the parts of the redun backend (`_redun_tags`, `_redun_jobs`) need of the backend they
are mixed into: its namespace handle, its write path and its value bookkeeping."""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Tuple

from artimeta.handles import NamespaceHandle
from artimeta.v1 import cache_pb2 as cpb


class BackendParts:
    """Declared here, defined by `ArtimetaBackend` (which lists the parts before RedunBackend, so
    their methods stand in for redun's abstract ones)."""

    namespace: str
    type_registry: Any

    def _reading(self, *, job_starts: bool = True) -> NamespaceHandle:
        """The namespace's services, once every write in flight has landed."""
        raise NotImplementedError

    def _write(self, rpc: str, request: Any, *, best_effort: bool = False, deferred: bool = False) -> None:
        """Calls CacheService RPC `rpc` (by name), at once or written behind."""
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def _values(self, value: Any, data: Optional[bytes] = None) -> Tuple[str, List[cpb.CacheValue]]:
        raise NotImplementedError

    def _remember(self, values: Iterable[cpb.CacheValue]) -> None:
        raise NotImplementedError

    def record_value(self, value: Any, data: Optional[bytes] = None) -> str:
        raise NotImplementedError
