"""Google Drive source: see ``connector.py``."""
