"""Notion connector (notion-client)."""
