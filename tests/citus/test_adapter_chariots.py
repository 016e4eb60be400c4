"""tests/api/test_adapter_chariots.py on Citus (see conftest.py)."""

from tests.api.test_adapter_chariots import *  # noqa: F403
