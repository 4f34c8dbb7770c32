"""A module that fails to import, for tests/evals/test_custom.py."""

raise RuntimeError("this module is broken on purpose")
