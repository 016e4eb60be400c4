"""tests/faults/test_retries.py on Citus (see conftest.py): the request ledger is distributed by
namespace like every other table, and its one statement per mutation routes to one shard."""

from tests.faults.test_retries import *  # noqa: F403
