"""tests/api/test_tag_service.py on Citus (see conftest.py)."""

from tests.api.test_tag_service import *  # noqa: F403
