"""Training: the AI profile and training scenarios (authored instructions to the agent)."""
