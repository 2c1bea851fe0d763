"""Metric functions: plain, pure and small, so each is tested on its own (no agent, no model)."""
