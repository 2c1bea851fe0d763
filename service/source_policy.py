"""What an HTTP caller may put in a source's options, and what it may read back.

The CLI is run by the operator on the server and may name any path or network; an API key may
not. Over HTTP:

- a server path (a ``folder`` source's folder, a ``helpcenter-export`` source's file) must lie,
  once symlinks and ``..`` are resolved, under a root the operator allows with
  ``KNOWDESK_SOURCES__ALLOWED_ROOTS`` (default: none, so no server path at all);
- the network switches of a ``website`` source (``allow_private_network``, ``allow_addresses``)
  need the admin scope, like the actions allowlist;
- a read-only key sees a source's name, kind and state, never its option values (paths, hosts,
  filters are the server's business).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import Forbidden, InvalidInput
from core.models import Source, SourceKind
from service.keys import Principal, Scope

#: Options naming a file or folder on the server, per kind.
SERVER_PATHS: dict[SourceKind, tuple[str, ...]] = {
    SourceKind.FOLDER: ("path",),
    SourceKind.HELPCENTER_EXPORT: ("path",),
}
#: Options that widen where the server connects to, per kind (admin only over HTTP).
NETWORK_SWITCHES: dict[SourceKind, tuple[str, ...]] = {
    SourceKind.WEBSITE: ("allow_private_network", "allow_addresses"),
}


def resolve_path(value: object) -> Path:
    """``value`` with ``~``, ``..`` and symlinks resolved; raises ``InvalidInput`` when it is not a path."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InvalidInput("a path option must be a non-empty string without NUL characters", option="path")
    try:
        return Path(value).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise InvalidInput(f"the path {value!r} cannot be resolved ({exc})", option="path") from None


def under_roots(path: Path, roots: Sequence[Path]) -> bool:
    """Whether the resolved ``path`` is one of the resolved ``roots`` or inside one."""
    return any(path.is_relative_to(root.expanduser().resolve()) for root in roots)


def authorize(source: Source, caller: Principal, *, allowed_roots: Sequence[Path]) -> Source:
    """The source an HTTP caller may add (server paths resolved), or ``Forbidden`` saying why not."""
    options = dict(source.options)
    for name in NETWORK_SWITCHES.get(source.kind, ()):
        if options.get(name) not in (None, False, "false", [], "") and Scope.ADMIN not in caller.scopes:
            raise Forbidden(f"the {name} option of a {source.kind.value} source needs an admin key (it lets the "
                            "server connect to internal addresses)", scope=Scope.ADMIN.value, option=name)
    for name in SERVER_PATHS.get(source.kind, ()):
        if name not in options:
            continue
        path = resolve_path(options[name])
        if not allowed_roots:
            raise Forbidden("server paths cannot be set over HTTP on this server; the operator allows roots with "
                            "KNOWDESK_SOURCES__ALLOWED_ROOTS or adds the source with `knowdesk sources add`",
                            option=name)
        if not under_roots(path, allowed_roots):
            raise Forbidden(f"{path} is outside the folders this server allows over HTTP "
                            f"({', '.join(str(r) for r in allowed_roots)})", option=name)
        options[name] = str(path)
    return source.model_copy(update={"options": options})


def visible(source: Source, caller: Principal, rendered: dict[str, Any]) -> dict[str, Any]:
    """``rendered`` (``output.source``) as ``caller`` may see it: no option values for read-only keys."""
    if Scope.WRITE in caller.scopes:
        return rendered
    return rendered | {"options": {}, "options_hidden": sorted(source.options)}
