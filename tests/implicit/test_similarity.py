"""The sentence-similarity model loads from its wheel without touching the root logger."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_model_leaves_logging_as_it_was() -> None:
    """wordllama's import configures the root logger at INFO; heron undoes that, or every
    library's INFO lines (an httpx line per request in `heron demo`) would be printed."""
    script = (
        "import logging\n"
        "from heron.implicit import similarity\n"
        "similarity._load()\n"
        "root = logging.getLogger()\n"
        "print(root.level, len(root.handlers))\n"
        "v = similarity.embed(['reset my password', 'how do I reset the password'])\n"
        "print(round(similarity.cosine(v, 0, 1), 2) > 0.5)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["30", "0", "True"], done.stdout
