"""Retrieval benchmark on dev sets from real documentation (issue 17): ``python -m bench.retrieval``."""


def main() -> None:
    """Entry point for ``python -m bench.run retrieval`` (every set, system and type; the test split)."""
    from bench.retrieval.__main__ import main as run

    code = run([])
    if code:
        raise SystemExit(code)
