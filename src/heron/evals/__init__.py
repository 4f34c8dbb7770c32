"""Evaluators: code checks, custom Python evaluators and LLM-as-a-judge, as pure functions."""
