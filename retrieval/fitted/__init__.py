"""Fitted ranking values (``fusion.json``), written by ``bench/retrieval/fit_ranking.py``."""
