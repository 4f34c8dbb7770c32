"""Configuration as code: score configs, LLM connections and evaluators by name."""
