import pytest

from tests.support.fake_openai import fake_openai  # noqa: F401
from tests.support.server import HeronProcess


@pytest.fixture(scope="module")
def live_server(module_server: HeronProcess) -> HeronProcess:
    """The module's shared server: these tests each read back only their own traces."""
    return module_server
