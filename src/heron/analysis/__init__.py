"""Error analysis: notes grouped into failure categories, and categories made scores."""

from heron.analysis.service import category_definition

__all__ = ["category_definition"]
