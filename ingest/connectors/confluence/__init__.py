"""Confluence connector (atlassian-python-api)."""
