"""``knowdesk samples api``: serve the Brewly sample shop API in the foreground.

``knowdesk quickstart`` imports the sample actions (spec ``brewly``) pointed at
``http://127.0.0.1:8781/v1`` and allowlists 127.0.0.1 for the workspace; with this command running
beside ``knowdesk serve``, the agent's sample actions (track an order, skip a box...) really work.
"""

from __future__ import annotations

import errno
from typing import Annotated

import typer
from rich.console import Console

from core.errors import InvalidInput
from service.samples.brewly_api import DEFAULT_PORT, HOST, SAMPLE_KEY, SPEC_NAME, SPEC_PATH, BrewlyApi

err = Console(stderr=True)
app = typer.Typer(help="The bundled sample services.", no_args_is_help=True)


@app.command("api")
def api(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.")] = DEFAULT_PORT,
) -> None:
    """Serve the Brewly sample shop API (the quickstart's actions) on 127.0.0.1 until Ctrl-C."""
    try:
        server = BrewlyApi(host=HOST, port=port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInput(f"port {port} on {HOST} is in use (is `knowdesk samples api` already running?); "
                               "stop that process or pick another --port") from exc
        raise InvalidInput(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from exc
    err.print(f"Brewly sample API on {server.base_url} (in-memory sample data, X-Brewly-Key: {SAMPLE_KEY})")
    if port != DEFAULT_PORT:
        err.print(f"the workspace's sample actions call port {DEFAULT_PORT}; point them here with "
                  f"`knowdesk actions import {SPEC_PATH} --name {SPEC_NAME} "
                  f"--base-url {server.base_url}`")
    err.print("Ctrl-C stops it.")
    try:
        server.serve()
    except KeyboardInterrupt:
        err.print("stopped")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="samples")
