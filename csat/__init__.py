"""CSAT: surveys after a session resolves, 1-5 scores with comments, aggregates and a signed
webhook on each score (issue 11)."""
