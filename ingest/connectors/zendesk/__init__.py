"""Zendesk Help Center connector (REST API)."""
