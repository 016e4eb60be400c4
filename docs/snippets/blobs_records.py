from pathlib import Path

from artimeta import Client
from artimeta.blobs import Blobs
from artimeta.records import Records

Path("model.bin").write_bytes(bytes(range(256)) * 4096)  # stand-ins for your own files
Path("run").mkdir(exist_ok=True)
Path("run/metrics.json").write_text('{"loss": 0.1}')

with Client("127.0.0.1:50051") as client:
    client.ensure_namespace("team-a")  # created if missing, as the adapters do
    blobs = Blobs(client, "team-a")
    digest = blobs.upload_file("model.bin", progress=lambda done, total: print(done, total))  # streamed
    blobs.download_to_file(digest, "copy.bin")  # verified
    blobs.put_object("models/latest", b"...")  # keyed object
    stats = Records(client, "team-a").commit_directory("a1b2c3d4e5f6", "./run")  # only missing files go
    Records(client, "team-a").retrieve_directory("a1b2c3d4e5f6", "./run-copy")  # byte-identical
