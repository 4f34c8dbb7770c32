"""The public surface of ``import heron`` and what importing it costs."""

from __future__ import annotations

import subprocess
import sys
import types

import heron


def test_all_is_sorted_and_matches_the_public_names() -> None:
    assert heron.__all__ == sorted(heron.__all__)
    public = {
        name
        for name, value in vars(heron).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in ("annotations", "Any")
    }
    assert set(heron.__all__) == public | {"__version__"}
    assert heron.__version__ == "0.1.0"


def test_importing_heron_loads_no_server_store_or_client_libraries() -> None:
    code = (
        "import sys, heron, heron.openai\n"
        "heavy = ('duckdb', 'fastapi', 'pyarrow', 'uvicorn', 'starlette', 'requests',"
        " 'heron.server', 'heron.store', 'heron.ingest', 'heron.cli')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
