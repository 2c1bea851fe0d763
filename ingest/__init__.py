"""Ingestion: connectors, parsing, chunking and the sync that keeps the index in step."""
