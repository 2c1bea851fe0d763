"""The application layer: the composition root (``app.runtime``) and the use cases the CLI, the HTTP
API and the Prefect flows call (sync a source, retrieve, remove a source, re-index, evaluate,
refresh insights). Nothing here imports Prefect."""
