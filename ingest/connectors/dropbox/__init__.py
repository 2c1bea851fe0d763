"""Dropbox source: see ``connector.py``."""
