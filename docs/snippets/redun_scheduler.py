from redun import Scheduler, task

from artimeta.adapters.redun import ArtimetaBackend


@task()
def add(a: int, b: int) -> int:
    return a + b


# The namespace is created on first use (create_namespace=False expects it to exist).
scheduler = Scheduler(backend=ArtimetaBackend(target="127.0.0.1:50051", namespace="team-a"))
print(scheduler.run(add(1, 2)))  # 3; run it again, from any machine: a cache hit
