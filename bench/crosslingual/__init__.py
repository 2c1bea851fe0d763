"""Cross-lingual retrieval benchmark (issue 21): ``python -m bench.crosslingual``."""
