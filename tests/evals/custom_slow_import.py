"""A module that takes long to import, for the import timeout of tests/evals/test_custom.py."""

import time

time.sleep(30)


def check(text: str) -> bool:
    return True
