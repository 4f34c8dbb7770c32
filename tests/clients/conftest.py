import pytest

from tests.support.fake_openai import fake_openai  # noqa: F401
from tests.support.server import HeronProcess


@pytest.fixture(scope="module")
def live_server(shared_server: HeronProcess) -> HeronProcess:
    """The run's shared server (``shared_server``): these tests each read back only their own
    traces, scores and datasets, by id or by a name of their run."""
    return shared_server
