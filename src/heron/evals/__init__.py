"""Automated evaluators: code checks and LLM judges."""
