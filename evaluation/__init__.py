"""knowdesk evaluation package."""
