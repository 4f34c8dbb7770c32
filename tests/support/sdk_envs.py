"""The Langfuse Python SDK majors the compatibility tests run, each in its own virtual
environment: v2, v3 and v4 under ``.venvs/langfuse-v<major>`` (``make sdk-envs``, pinned in
``tests/clients/sdk_envs/``), v5 in the project's own ``.venv``.

A test runs a client script with :func:`run_script`, which starts that environment's
interpreter with the ``LANGFUSE_*`` variables pointing at a live heron, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import PUBLIC_KEY, SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
MAJORS = (2, 3, 4, 5)


def langfuse_python(major: int) -> Path:
    """The interpreter of the environment holding Langfuse SDK ``major``; a test fails (it is
    never skipped) when the environment is missing."""
    if major == 5:
        return Path(sys.executable)
    python = ROOT / ".venvs" / f"langfuse-v{major}" / "bin" / "python"
    if not (python.parent.parent / ".installed").exists():
        pytest.fail(f"Langfuse SDK v{major} is not installed: run `make sdk-envs`")
    return python


def run_script(
    major: int, script: Path, url: str, *args: str, timeout: float = 120, **env: str
) -> dict[str, Any]:
    """Run ``script`` under Langfuse SDK ``major`` against heron at ``url``; return the JSON
    object it prints on its last stdout line (the test fails with its stderr otherwise)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "OTEL_"))}
    clean.pop("PYTHONPATH", None)  # the SDK's environment, not heron's
    clean.update(
        LANGFUSE_HOST=url,
        LANGFUSE_BASE_URL=url,
        LANGFUSE_PUBLIC_KEY=PUBLIC_KEY,
        LANGFUSE_SECRET_KEY=SECRET_KEY,
    )
    clean.update(env)  # may name another project's keys
    out = subprocess.run(
        [str(langfuse_python(major)), str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean,
        cwd=script.parent,
    )
    assert out.returncode == 0, f"v{major} {script.name}: {out.stderr[-4000:]}"
    lines = out.stdout.strip().splitlines()
    assert lines, f"v{major} {script.name} printed nothing: {out.stderr[-2000:]}"
    return json.loads(lines[-1])
