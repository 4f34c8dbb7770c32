"""Each Langfuse SDK major the compatibility tests use is installed in its own environment."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.sdk_envs import MAJORS, langfuse_python

VERSION = "from importlib.metadata import version; import langfuse; print(version('langfuse'))"


@pytest.mark.parametrize("major", MAJORS)
def test_each_major_imports_from_its_own_environment(major: int) -> None:
    python = langfuse_python(major)
    out = subprocess.run([str(python), "-c", VERSION], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split(".")[0] == str(major)
