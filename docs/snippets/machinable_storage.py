from pathlib import Path

import machinable


class Hello(machinable.Interface):
    def __call__(self):
        self.save_file("hello.txt", "hi")


config = {"target": "127.0.0.1:50051", "namespace": "team-a"}
with machinable.get("artimeta.adapters.machinable", config) as storage:
    run = machinable.get(Hello).launch()  # committed to artimeta
    storage.upload(run)  # and what it wrote once it ran

# not entered, here or in any other process: the same records
storage = machinable.get("artimeta.adapters.machinable", config)
print(storage.contains(run.uuid))  # True
storage.download(run.uuid, "./records")  # the record directory, byte-identical
print(Path("records", run.uuid, "hello.txt").read_text())  # hi
