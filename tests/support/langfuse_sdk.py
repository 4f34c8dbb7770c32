"""The Langfuse SDK (v5, in the test process) pointed at a live heron.

The SDK keeps one resource manager per public key for the life of the process and hands it
to every later ``Langfuse(...)`` with that key, whatever ``host`` they pass. Every test
server shares the same init keys, so a client made for an earlier module's (stopped) server
would be reused: :func:`langfuse_client` drops those first.
"""

from __future__ import annotations

from typing import Any

from tests.support.server import PUBLIC_KEY, SECRET_KEY


def langfuse_client(
    url: str, public_key: str = PUBLIC_KEY, secret_key: str = SECRET_KEY, **kwargs: Any
) -> Any:
    """A ``Langfuse`` client for the heron at ``url`` (the test project's keys unless given),
    never one made for another server."""
    from langfuse import Langfuse
    from langfuse._client.resource_manager import LangfuseResourceManager

    LangfuseResourceManager.reset()
    return Langfuse(
        public_key=public_key, secret_key=secret_key, host=url, tracing_enabled=False, **kwargs
    )
