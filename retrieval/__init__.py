"""knowdesk retrieval package."""
