"""tests/integration/test_namespace_races.py on Citus (see conftest.py)."""

from tests.integration.test_namespace_races import *  # noqa: F403
