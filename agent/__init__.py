"""knowdesk agent package."""
