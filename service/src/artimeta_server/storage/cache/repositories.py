"""The cache service's repositories on one database."""

from __future__ import annotations

from artimeta_server.domain.cache.ports import CacheRepositories
from artimeta_server.storage.cache.cache_check import PostgresCacheChecks
from artimeta_server.storage.cache.call_graph import PostgresCallGraph
from artimeta_server.storage.cache.evaluations import PostgresEvaluations
from artimeta_server.storage.cache.handles import PostgresHandles
from artimeta_server.storage.cache.jobs import PostgresJobs
from artimeta_server.storage.cache.sync import PostgresRecordSync
from artimeta_server.storage.cache.values import PostgresValues
from artimeta_server.storage.postgres import Database


def postgres_cache_repositories(db: Database) -> CacheRepositories:
    return CacheRepositories(
        values=PostgresValues(db),
        call_graph=PostgresCallGraph(db),
        checks=PostgresCacheChecks(db),
        evaluations=PostgresEvaluations(db),
        jobs=PostgresJobs(db),
        handles=PostgresHandles(db),
        records=PostgresRecordSync(db),
    )
