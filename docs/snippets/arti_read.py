from arti.graphs import GraphSnapshot

from artimeta.adapters.arti import ArtimetaBackend

backend = ArtimetaBackend(target="127.0.0.1:50051", namespace="team-a")
snapshot = GraphSnapshot.from_tag("daily", "prod", connectable=backend)
print(snapshot.read(snapshot.graph.artifacts.y, annotation=int))  # 42
snapshot.graph.build()  # nothing to compute: every partition is known
