from redun import Scheduler, task
from redun.config import Config

import artimeta.adapters.redun  # noqa: F401  (registers the artimeta:// filesystem with redun)


@task()
def weights(n: int) -> bytes:
    return bytes(range(256)) * n  # 1 KiB or more: stored in artimeta, not in redun.db


config = Config(
    {
        "backend": {
            "db_uri": "sqlite:///redun.db",
            "value_store_path": "artimeta://127.0.0.1:50051/team-a/redun/values",
            "value_store_min_size": "1024",
        }
    }
)
scheduler = Scheduler(config=config)
scheduler.load()
print(len(scheduler.run(weights(64))))  # 16384
