"""The per-workspace actions registry in the state database (SQLite or PostgreSQL).

Re-importing a spec replaces its actions but keeps each surviving action's channels, segments
and confirmation flag; operations gone from the spec are removed. Secrets are written here and
read only by the caller; nothing in this module returns them to the API. They are encrypted at
rest (``secrets.SecretBox``); plaintext rows from before encryption, and rows under a key that is
no longer the first, are re-encrypted under the current key on first use of the store and on read.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from typing import Any

from sqlalchemy import delete, select

from core.db import Database, insert_ignore
from core.errors import InvalidInput, NotFound
from core.models import Channel
from core.tables import WorkspaceRow, utcnow

from .headers import clean_headers
from .models import ActionDef, AuthScheme, SchemeKind, Skipped, SpecInfo
from .openapi import ParsedSpec
from .secrets import SecretBox, SecretUnreadable
from .tables import ActionNetworkRow, ActionRow, ActionSecretRow, ActionSessionRow, ActionSpecRow

log = logging.getLogger(__name__)
HOST_NAME = re.compile(r"^[A-Za-z0-9.-]+$")
SECRET_FIELDS: dict[SchemeKind, tuple[str, ...]] = {
    SchemeKind.API_KEY: ("value",),
    SchemeKind.BEARER: ("token",),
    SchemeKind.BASIC: ("username", "password"),
    SchemeKind.OAUTH2: ("client_id", "client_secret"),
}


class ActionStore:
    """Reads and writes specs, actions, secrets, the allowlist and per-session action state.

    Args:
        db: the state database.
        secrets: encrypts secrets at rest (``build_secret_box`` in composition roots). Without one,
            a key of this process only is used: secrets then do not survive a restart.
    """

    def __init__(self, *, db: Database, secrets: SecretBox | None = None) -> None:
        self.db = db
        if secrets is None:
            log.warning("the actions store has no secrets key: secrets are encrypted with a key of this process "
                        "only and cannot be read after a restart")
        self.box = secrets or SecretBox.ephemeral()
        self._swept = False
        self._sweep_lock = threading.Lock()

    # -- specs and actions ----------------------------------------------------------------------
    def save_import(self, workspace: str, name: str, parsed: ParsedSpec, *, base_url: str | None = None,
                    channels: tuple[Channel, ...] = ()) -> tuple[list[ActionDef], list[str], list[Skipped]]:
        """Store a parsed spec's actions; returns (stored actions, removed action ids, id conflicts with
        other specs, which are skipped). ``channels`` enables new actions; actions imported before
        keep their channels, segments and confirmation flag."""
        with self.db.session() as s:
            insert_ignore(s, WorkspaceRow.__table__, id=workspace, name=workspace, created_at=utcnow())
        info = SpecInfo(workspace=workspace, name=name, title=parsed.title, version=parsed.version,
                        base_url=base_url or parsed.base_url, schemes=tuple(parsed.schemes))
        stored: list[ActionDef] = []
        conflicts: list[Skipped] = []
        with self.db.session() as s:
            spec_row = s.get(ActionSpecRow, (workspace, name))
            if spec_row is not None and base_url is None:  # keep a base URL set earlier
                info = info.model_copy(update={"base_url": spec_row.data.get("base_url") or info.base_url})
            data = info.model_dump(mode="json")
            if spec_row is None:
                s.add(ActionSpecRow(workspace=workspace, name=name, data=data))
            else:
                spec_row.data = data
            existing = {r.id: r for r in s.scalars(select(ActionRow).where(ActionRow.workspace == workspace))}
            for action in parsed.actions:
                row = existing.get(action.id)
                if row is not None and row.spec != name:
                    conflicts.append(Skipped(operation=action.id, method=action.method, path=action.path,
                                             reason=f"action id {action.id!r} already comes from spec {row.spec!r}"))
                    continue
                if row is not None:
                    old = row.data
                    action = action.model_copy(update={
                        # the user's choice stands: a disabled action stays disabled on re-import
                        "channels": tuple(Channel(c) for c in old.get("channels") or ()),
                        "segments": tuple(old.get("segments") or ()),
                        "confirm": bool(old.get("confirm", action.confirm)),
                    })
                    row.data = action.model_dump(mode="json", by_alias=True)
                else:
                    action = action.model_copy(update={"channels": channels})
                    s.add(ActionRow(workspace=workspace, id=action.id, spec=name,
                                    data=action.model_dump(mode="json", by_alias=True)))
                stored.append(action)
            keep = {a.id for a in stored}
            removed = sorted(i for i, r in existing.items() if r.spec == name and i not in keep)
            if removed:
                s.execute(delete(ActionRow).where(ActionRow.workspace == workspace, ActionRow.id.in_(removed)))
        return stored, removed, conflicts

    def actions(self, workspace: str, *, spec: str | None = None) -> list[ActionDef]:
        with self.db.session() as s:
            q = select(ActionRow).where(ActionRow.workspace == workspace)
            if spec:
                q = q.where(ActionRow.spec == spec)
            return [ActionDef.model_validate(r.data) for r in s.scalars(q.order_by(ActionRow.spec, ActionRow.id))]

    def get(self, workspace: str, action_id: str) -> ActionDef:
        with self.db.session() as s:
            row = s.get(ActionRow, (workspace, action_id))
            if row is None:
                raise NotFound(f"no action {action_id!r} in workspace {workspace!r}; see `knowdesk actions list`",
                               action=action_id)
            return ActionDef.model_validate(row.data)

    def update(self, workspace: str, action_id: str, *, channels: tuple[Channel, ...] | None = None,
               segments: tuple[str, ...] | None = None, confirm: bool | None = None) -> ActionDef:
        """Change an action's channels, segments or confirmation flag (None leaves it)."""
        action = self.get(workspace, action_id)
        changes: dict[str, Any] = {}
        if channels is not None:
            changes["channels"] = tuple(dict.fromkeys(channels))
        if segments is not None:
            changes["segments"] = tuple(dict.fromkeys(s.strip() for s in segments if s.strip()))
        if confirm is not None:
            changes["confirm"] = confirm
        action = action.model_copy(update=changes)
        with self.db.session() as s:
            row = s.get(ActionRow, (workspace, action_id))
            assert row is not None
            row.data = action.model_dump(mode="json", by_alias=True)
        return action

    def delete(self, workspace: str, action_id: str) -> ActionDef:
        action = self.get(workspace, action_id)
        with self.db.session() as s:
            s.execute(delete(ActionRow).where(ActionRow.workspace == workspace, ActionRow.id == action_id))
        return action

    def delete_spec(self, workspace: str, name: str) -> list[ActionDef]:
        """Remove a spec, its actions and its secrets; returns the removed actions."""
        self.spec(workspace, name)
        actions = self.actions(workspace, spec=name)
        with self.db.session() as s:
            s.execute(delete(ActionRow).where(ActionRow.workspace == workspace, ActionRow.spec == name))
            s.execute(delete(ActionSecretRow).where(ActionSecretRow.workspace == workspace,
                                                    ActionSecretRow.spec == name))
            s.execute(delete(ActionSpecRow).where(ActionSpecRow.workspace == workspace, ActionSpecRow.name == name))
        return actions

    def spec(self, workspace: str, name: str) -> SpecInfo:
        with self.db.session() as s:
            row = s.get(ActionSpecRow, (workspace, name))
            if row is None:
                raise NotFound(f"no action spec {name!r} in workspace {workspace!r}", spec=name)
            return SpecInfo.model_validate(row.data)

    def specs(self, workspace: str) -> list[SpecInfo]:
        with self.db.session() as s:
            rows = s.scalars(select(ActionSpecRow).where(ActionSpecRow.workspace == workspace)
                             .order_by(ActionSpecRow.name))
            return [SpecInfo.model_validate(r.data) for r in rows]

    def set_base_url(self, workspace: str, name: str, base_url: str) -> SpecInfo:
        info = self.spec(workspace, name).model_copy(update={"base_url": base_url.rstrip("/")})
        with self.db.session() as s:
            row = s.get(ActionSpecRow, (workspace, name))
            assert row is not None
            row.data = info.model_dump(mode="json")
        return info

    # -- secrets (write-only) -------------------------------------------------------------------
    def set_secret(self, workspace: str, spec: str, scheme: str, values: dict[str, str]) -> AuthScheme:
        """Store the secret of a spec's security scheme (fields depend on its kind).

        Raises:
            NotFound: no such spec or scheme. InvalidInput: missing or unknown fields.
        """
        found = next((x for x in self.spec(workspace, spec).schemes if x.name == scheme), None)
        if found is None:
            known = ", ".join(x.name for x in self.spec(workspace, spec).schemes) or "none"
            raise NotFound(f"spec {spec!r} has no security scheme {scheme!r} (known: {known})")
        fields = SECRET_FIELDS[found.kind]
        missing = [f for f in fields if not values.get(f)]
        unknown = sorted(set(values) - set(fields))
        if missing or unknown:
            raise InvalidInput(f"scheme {scheme!r} ({found.kind.value}) takes {', '.join(fields)}"
                               + (f"; missing {', '.join(missing)}" if missing else "")
                               + (f"; unknown {', '.join(unknown)}" if unknown else ""))
        self._sweep_once()
        stored = self.box.encrypt({k: str(values[k]) for k in fields})
        with self.db.session() as s:
            row = s.get(ActionSecretRow, (workspace, spec, scheme))
            if row is None:
                s.add(ActionSecretRow(workspace=workspace, spec=spec, scheme=scheme, data=stored))
            else:
                row.data = stored
        return found

    def secret(self, workspace: str, spec: str, scheme: str) -> dict[str, str] | None:
        """The decrypted secret of a scheme (None when unset); only the caller reads it.

        Raises:
            SecretUnreadable: the configured keys cannot decrypt it (names the spec/scheme and what to do).
        """
        self._sweep_once()
        with self.db.session() as s:
            row = s.get(ActionSecretRow, (workspace, spec, scheme))
            if row is None:
                return None
            values, stale = self._open(row, f"{spec}/{scheme}")
            if stale:
                row.data = self.box.encrypt(values)
            return values

    def reencrypt_secrets(self) -> dict[str, int]:
        """Encrypt plaintext rows (from before encryption) and re-encrypt rows under an older key with
        the first key. Unreadable rows are left as they are and counted (their names are logged).

        Returns: counts of ``encrypted`` (were plaintext), ``rotated``, ``current`` and ``unreadable``.
        """
        counts = {"encrypted": 0, "rotated": 0, "current": 0, "unreadable": 0}
        with self.db.session() as s:
            for row in s.scalars(select(ActionSecretRow)):
                what = f"{row.spec}/{row.scheme} (workspace {row.workspace})"
                plaintext = not self.box.is_encrypted(row.data or {})
                try:
                    values, stale = self._open(row, what)
                except SecretUnreadable as exc:
                    counts["unreadable"] += 1
                    log.error("%s", exc.message)
                    continue
                if plaintext or stale:
                    row.data = self.box.encrypt(values)
                counts["encrypted" if plaintext else "rotated" if stale else "current"] += 1
        if counts["encrypted"] or counts["rotated"]:
            log.info("action secrets re-encrypted under the current key: %d were plaintext, %d under an older key",
                     counts["encrypted"], counts["rotated"])
        return counts

    def _open(self, row: ActionSecretRow, what: str) -> tuple[dict[str, str], bool]:
        data = dict(row.data or {})
        if not self.box.is_encrypted(data):
            return {str(k): str(v) for k, v in data.items()}, True  # plaintext from before encryption
        return self.box.decrypt(data, what=what, spec=row.spec, scheme=row.scheme)

    def _sweep_once(self) -> None:
        if self._swept:
            return
        with self._sweep_lock:
            if not self._swept:
                self.reencrypt_secrets()
                self._swept = True

    def secret_names(self, workspace: str) -> list[dict[str, str]]:
        """Which secrets are set (spec and scheme), never their values."""
        self._sweep_once()
        with self.db.session() as s:
            rows = s.scalars(select(ActionSecretRow).where(ActionSecretRow.workspace == workspace))
            return [{"spec": r.spec, "scheme": r.scheme} for r in rows]

    def delete_secret(self, workspace: str, spec: str, scheme: str) -> None:
        with self.db.session() as s:
            s.execute(delete(ActionSecretRow).where(ActionSecretRow.workspace == workspace,
                                                    ActionSecretRow.spec == spec, ActionSecretRow.scheme == scheme))

    # -- network allowlist ----------------------------------------------------------------------
    def set_allowlist(self, workspace: str, entries: list[str]) -> list[str]:
        """Private hosts or networks (``127.0.0.1``, ``10.0.0.0/8``, ``api.internal``) actions may reach."""
        clean = []
        for entry in entries:
            entry = entry.strip().lower()
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not HOST_NAME.match(entry):
                    raise InvalidInput(f"{entry!r} is neither an IP address, a network nor a host name") from None
            clean.append(entry)
        with self.db.session() as s:
            insert_ignore(s, WorkspaceRow.__table__, id=workspace, name=workspace, created_at=utcnow())
            row = s.get(ActionNetworkRow, workspace)
            if row is None:
                s.add(ActionNetworkRow(workspace=workspace, allow=clean))
            else:
                row.allow = clean
        return clean

    def allowlist(self, workspace: str) -> list[str]:
        with self.db.session() as s:
            row = s.get(ActionNetworkRow, workspace)
            return list(row.allow) if row else []

    # -- per-session state ----------------------------------------------------------------------
    def set_session_headers(self, workspace: str, session_id: str, headers: dict[str, str]) -> None:
        """Headers for this session's calls (a customer's token); they override workspace secrets.
        Raises ``InvalidInput`` for a malformed name or value; hop-by-hop headers are dropped."""
        self._session_update(workspace, session_id, headers=clean_headers(headers))

    def session_headers(self, workspace: str, session_id: str) -> dict[str, str]:
        with self.db.session() as s:
            row = s.get(ActionSessionRow, (workspace, session_id))
            return clean_headers(row.headers, strict=False) if row else {}

    def pending(self, workspace: str, session_id: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.get(ActionSessionRow, (workspace, session_id))
            return dict(row.pending) if row and row.pending else None

    def set_pending(self, workspace: str, session_id: str, pending: dict[str, Any] | None) -> None:
        self._session_update(workspace, session_id, pending=pending)

    def _session_update(self, workspace: str, session_id: str, **values: Any) -> None:
        with self.db.session() as s:
            row = s.get(ActionSessionRow, (workspace, session_id))
            if row is None:
                s.add(ActionSessionRow(workspace=workspace, session_id=session_id,
                                       headers=values.get("headers", {}), pending=values.get("pending")))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
