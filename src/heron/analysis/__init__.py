"""Error analysis: notes grouped into failure categories, and categories made scores."""
