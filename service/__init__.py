"""knowdesk service package."""
