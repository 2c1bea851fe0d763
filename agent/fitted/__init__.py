"""Fitted handoff classifiers (``intents.json``), written by ``evaluation/fit_intents.py``."""
