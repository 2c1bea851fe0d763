"""CLI command modules, one per area. Each module defines ``register(app: typer.Typer)``.

Add a module's name to ``MODULES`` to put its commands on ``knowdesk``.
"""

from __future__ import annotations

import importlib

import typer

MODULES: list[str] = [
    "orchestration",
    "helpcenter",
    "training",
    "agent",
    "evaluation",
    "insights",
    "feedback",
    "conflicts",
    "knowledge_ci",
    "resolutions",
    "actions",
    "samples",
    "access",
]


def register_all(app: typer.Typer) -> None:
    for name in MODULES:
        importlib.import_module(f"service.commands.{name}").register(app)
