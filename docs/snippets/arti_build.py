from typing import Annotated

from arti import Artifact, Graph, producer
from arti.formats.json import JSON
from arti.storage.local import LocalFile
from arti.types import Int64

from artimeta.adapters.arti import ArtimetaBackend


class Count(Artifact):
    type: Int64 = Int64()
    format: JSON = JSON()
    storage: LocalFile = LocalFile(path="counts/{graph_name}/{names}/{input_fingerprint}.json")


@producer()
def plus1(x: int) -> Annotated[int, Count]:
    return x + 1


backend = ArtimetaBackend(target="127.0.0.1:50051", namespace="team-a")
with Graph(name="daily", backend=backend) as g:
    g.artifacts.x = 41
    g.artifacts.y = plus1(x=g.artifacts.x).out()
g.build().tag("prod", overwrite=True)
