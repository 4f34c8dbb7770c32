"""HERON_HOST serves the server (a bind address) and the SDK (a URL) from one environment."""

from __future__ import annotations

import pytest

from heron import ConfigError
from heron.sdk.config import Config


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:4376"),
        ({"HERON_HOST": "https://heron.example.com/"}, "https://heron.example.com"),
        ({"HERON_HOST": "0.0.0.0", "HERON_PORT": "5000"}, "http://127.0.0.1:5000"),
        ({"HERON_HOST": "127.0.0.1"}, "http://127.0.0.1:4376"),
        ({"HERON_HOST": "heron.internal:81"}, "http://heron.internal:81"),
    ],
)
def test_host_from_environment(env: dict[str, str], url: str) -> None:
    assert Config.resolve(env=env).host == url


def test_argument_wins_and_nonsense_is_refused() -> None:
    env = {"HERON_HOST": "0.0.0.0"}
    assert Config.resolve(env=env, host="http://10.1.2.3:9").host == "http://10.1.2.3:9"
    with pytest.raises(ConfigError, match="must be a URL"):
        Config.resolve(env={"HERON_HOST": "not a host"})
