"""redun on artimeta: `Scheduler(backend=ArtimetaBackend(target=..., namespace=...))`."""

from artimeta.adapters._redun_backend import ArtimetaBackend

__all__ = ["ArtimetaBackend"]
