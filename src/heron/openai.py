"""Drop-in OpenAI clients whose calls heron records: ``from heron.openai import OpenAI``.

Same constructors and behaviour as ``openai.OpenAI`` / ``openai.AsyncOpenAI`` (they are
subclasses); only calls of these clients are recorded, unless :func:`heron.instrument_openai`
records every client's calls.
"""

from __future__ import annotations

from typing import Any

import openai as _openai

from heron.sdk.openai import patch as _patch

__all__ = ["AsyncOpenAI", "OpenAI"]


class OpenAI(_openai.OpenAI):
    """``openai.OpenAI`` whose calls heron records."""

    _heron_traced = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _patch()  # idempotent; again after a heron.uninstrument_openai()
        super().__init__(*args, **kwargs)


class AsyncOpenAI(_openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` whose calls heron records."""

    _heron_traced = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _patch()
        super().__init__(*args, **kwargs)
