"""Prefect flows (thin wrappers over ingest/retrieval/agent) and the shared composition.

``flows.runtime`` wires settings into ready objects and does not import Prefect; the flow
modules do. Import them explicitly: importing ``flows`` alone imports nothing heavy.
"""
