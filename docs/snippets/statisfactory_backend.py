from urllib.parse import urlparse

from artimeta.adapters.statisfactory import ArtimetaBackend

backend = ArtimetaBackend(target="127.0.0.1:50051")
url = urlparse("artimeta://team-a/models/latest.pkl")  # artimeta://<namespace>/<key>
backend.put(payload=b"weights", fragment=url)
print(backend.get(fragment=url))  # b'weights'
