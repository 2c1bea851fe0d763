"""Option field helpers shared by connectors' ``Options`` models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _split_list(value: Any) -> Any:
    """CLI options arrive as strings: ``a,b`` or a repeated option (a list) both give a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        out: list[str] = []
        for v in value:
            out.extend(_split_list(v))
        return out
    return value


StrList = Annotated[list[str], BeforeValidator(_split_list)]
