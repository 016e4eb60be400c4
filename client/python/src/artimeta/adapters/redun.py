"""redun on artimeta: `Scheduler(backend=ArtimetaBackend(target=..., namespace=...))`, and
`ArtimetaValueStore` (redun's ValueStore on BlobService; importing this module also registers the
`artimeta://` filesystem that redun's `value_store_path` can name)."""

from artimeta.adapters._redun_backend import ArtimetaBackend
from artimeta.adapters._redun_value_store import ArtimetaValueStore

__all__ = ["ArtimetaBackend", "ArtimetaValueStore"]
