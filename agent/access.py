"""What an end user may see: signed identity tokens and each workspace's group -> audience mapping.

Sources store who may see a document as audience labels on every chunk (``group:NAME`` and
``user:ID`` from Confluence restrictions, ``group:``, ``user:``, ``domain:`` from Drive
permissions, ``segment:NAME`` and ``user_type:KIND`` from Zendesk user segments, the ``audience``
option of Drive and Dropbox sources); an empty audience is public. A contact's groups come from:

- a signed identity token presented when the session is opened (``verify_token``): a compact JWS
  (a JWT) signed with HMAC-SHA256 under the workspace's identity secret, whose claims name the
  workspace (``aud``), the contact (``sub`` and/or ``email``), its ``groups`` and an ``exp``;
- the workspace's configuration (``AccessConfig.contacts``): groups for a verified email, email
  domain or subject, so a token naming only the contact still gets the groups an admin set.

``AccessConfig.groups`` maps each group to the audience labels it opens. A group absent from the
mapping opens nothing; a contact without a verified identity sees public documents only. The
contact's ``segments`` given when a session is opened are not verified (any write key can claim
any segment) and only select scenarios and actions; they never open restricted content.

Example::

    token = sign_token("s3cret-of-32-characters-or-more!!", {"aud": "acme", "sub": "c-42",
                       "groups": ["partners"], "exp": int(time.time()) + 600})
    identity = verify_token(token, secret="s3cret-of-32-characters-or-more!!", workspace="acme")
    viewer = AccessConfig(groups={"partners": ("segment:Partners",)}).viewer(identity)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import Field, ValidationError, field_validator

from core.db import Database, insert_ignore
from core.errors import AuthError, ConfigError, InvalidInput
from core.models import PUBLIC, WHITESPACE, Frozen, UTCDateTime, Viewer
from core.tables import WorkspaceRow, utcnow

from .tables import AccessRow

#: Longest token accepted (a few hundred groups); longer ones are refused before any parsing.
MAX_TOKEN_CHARS = 16_384
MIN_SECRET_CHARS = 32
MAX_GROUPS = 200
#: The label Confluence gives a page whose restricted levels share no label: visible to nobody.
UNREACHABLE = "confluence:no-shared-audience"
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
_CONTACT_KEY = re.compile(r"^(email|domain|sub):[^\s\x00-\x1f\x7f]{1,320}$")
#: The same rules as JSON Schema patterns (ECMA-262 reading, whitespace as ``str.strip`` sees it):
#: a name or label of 1-200 printable characters without leading or trailing spaces, a contact key.
_EDGE = f"[^\\x00-\\x1f\\x7f{WHITESPACE}]"
_NAME_PATTERN = f"^{_EDGE}([^\\x00-\\x1f\\x7f]{{0,198}}{_EDGE})?$"
_CONTACT_KEY_PATTERN = f"^(email|domain|sub):[^\\x00-\\x1f\\x7f{WHITESPACE}]{{1,320}}$"
_LABEL: dict[str, Any] = {"type": "string", "pattern": _NAME_PATTERN, "not": {"const": UNREACHABLE}}
_LABELS: dict[str, Any] = {"type": "array", "items": _LABEL}


class IdentityRejected(AuthError):
    """An identity token that cannot be trusted: malformed, badly signed, expired, for another
    workspace, or presented to a workspace without an identity secret (401, never public)."""

    code = "identity_rejected"


class Identity(Frozen):
    """A contact's verified identity, as a valid token stated it."""

    subject: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = ()
    expires_at: UTCDateTime


def _labels(value: Any, what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"{what} must be a list of strings, got {type(value).__name__}")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or not _NAME.match(item.strip()) or item != item.strip():
            raise ValueError(f"{what} holds {item!r}: each entry is 1-200 printable characters, without "
                             "leading or trailing spaces")
        if item == UNREACHABLE:
            raise ValueError(f"{UNREACHABLE!r} marks Confluence pages nobody may see; fix the page's restrictions "
                             "in Confluence instead of mapping a group to it")
        out.append(item)
    return tuple(dict.fromkeys(out))


class AccessConfig(Frozen):
    """A workspace's end-user access configuration.

    ``groups``: group -> the audience labels it opens, e.g. ``{"partners": ["segment:Partners",
    "group:partners@example.com"]}``. ``contacts``: groups given to verified identities by
    configuration, keyed ``email:ADDRESS``, ``domain:EXAMPLE.COM`` or ``sub:SUBJECT``, e.g.
    ``{"domain:example.com": ["staff"]}``. Both only ever add to what a token grants.
    """

    groups: dict[str, tuple[str, ...]] = Field(default_factory=dict, json_schema_extra={
        "propertyNames": {"pattern": _NAME_PATTERN}, "additionalProperties": _LABELS})
    contacts: dict[str, tuple[str, ...]] = Field(default_factory=dict, json_schema_extra={
        "propertyNames": {"pattern": _CONTACT_KEY_PATTERN}, "additionalProperties": _LABELS})

    @field_validator("groups", "contacts", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError('must be an object of name -> list of strings, e.g. {"partners": ["segment:Partners"]}')
        return value

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        out = {}
        for group, labels in value.items():
            if not _NAME.match(group) or group != group.strip():
                raise ValueError(f"group name {group!r}: 1-200 printable characters, no leading or trailing spaces")
            out[group] = _labels(labels, f"the labels of group {group!r}")
        return out

    @field_validator("contacts")
    @classmethod
    def _contacts(cls, value: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        out = {}
        for key, groups in value.items():
            if not _CONTACT_KEY.match(key):
                raise ValueError(f"contact key {key!r}: use email:ADDRESS, domain:EXAMPLE.COM or sub:SUBJECT")
            kind, _, name = key.partition(":")
            out[f"{kind}:{name.lower() if kind != 'sub' else name}"] = _labels(groups, f"the groups of {key!r}")
        return out

    def groups_of(self, identity: Identity | None) -> tuple[str, ...]:
        """The identity's groups: the token's plus those configured for its email, domain or subject."""
        if identity is None:
            return ()
        found = list(identity.groups)
        keys = []
        if identity.email:
            email = identity.email.lower()
            keys += [f"email:{email}", f"domain:{email.rpartition('@')[2]}"]
        if identity.subject:
            keys.append(f"sub:{identity.subject}")
        for key in keys:
            found += self.contacts.get(key, ())
        return tuple(dict.fromkeys(found))

    def viewer(self, identity: Identity | None) -> Viewer:
        """What ``identity`` may see: the labels its groups open; public documents only without one."""
        labels = [label for group in self.groups_of(identity) for label in self.groups.get(group, ())]
        return Viewer(labels=tuple(dict.fromkeys(labels))) if labels else PUBLIC


# -- tokens -------------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(secret: str, claims: dict[str, Any]) -> str:
    """A compact JWS (HS256) of ``claims``: what an integration's backend sends with a session.

    Any JWT library makes the same token (``jwt.encode(claims, secret, algorithm="HS256")``).
    """
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def verify_token(token: str, *, secret: str, workspace: str, now: float | None = None) -> Identity:
    """The identity a token states, once its signature, workspace and expiry are checked.

    Raises:
        IdentityRejected: malformed, not HS256, a bad signature, for another workspace, without
            ``exp`` or past it, naming no contact, or with malformed groups.
    """
    def reject(why: str, reason: str) -> IdentityRejected:
        return IdentityRejected(f"identity token rejected: {why}", reason=reason)

    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise reject(f"give a token of 1-{MAX_TOKEN_CHARS} characters", "malformed")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise reject("not a compact JWS (three base64url parts separated by dots)", "malformed")
    try:
        header, claims = json.loads(_unb64(parts[0])), json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise reject("its parts are not base64url-encoded JSON", "malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise reject("its header and claims must be JSON objects", "malformed")
    if header.get("alg") != "HS256":
        raise reject(f"algorithm {header.get('alg')!r} is not accepted; sign with HS256 (HMAC-SHA256)", "algorithm")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if workspace not in audiences:
        raise reject(f"it is for workspace {audience!r}, not {workspace!r}; sign it with this workspace's "
                     "secret and its name in the aud claim", "workspace")
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise reject("bad signature; sign with the workspace's current identity secret (HMAC-SHA256)", "signature")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise reject("no exp claim (expiry, seconds since 1970); every token must expire", "expiry")
    clock = time.time() if now is None else now
    if exp <= clock:
        raise reject(f"expired {int(clock - exp)} s ago; ask the integration for a fresh token", "expired")
    subject, email = claims.get("sub"), claims.get("email")
    if not (isinstance(subject, str) and subject.strip()) and not (isinstance(email, str) and "@" in email):
        raise reject("it names no contact: give sub (the contact's id) and/or email", "contact")
    groups = claims.get("groups", [])
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise reject(f"groups must be a list of at most {MAX_GROUPS} names", "groups")
    try:
        return Identity(subject=subject if isinstance(subject, str) and subject.strip() else None,
                        email=email.strip().lower() if isinstance(email, str) and "@" in email else None,
                        groups=_labels(groups, "groups"), expires_at=datetime.fromtimestamp(float(exp), UTC))
    except (ValueError, ValidationError, OverflowError) as exc:
        raise reject(str(exc).splitlines()[0], "groups") from None


# -- storage ------------------------------------------------------------------------------------------
class SecretCipher(Protocol):
    """Encrypts secrets at rest (``actions.secrets.SecretBox`` in the composition roots)."""

    def encrypt(self, values: dict[str, str]) -> dict[str, Any]: ...

    def decrypt(self, stored: dict[str, Any], *, what: str) -> tuple[dict[str, str], bool]: ...


class AccessStore:
    """Each workspace's ``AccessConfig`` and identity secret (encrypted with ``cipher``).

    Args:
        db: the state database. cipher: encrypts the secret at rest.
    """

    def __init__(self, *, db: Database, cipher: SecretCipher) -> None:
        self.db = db
        self.cipher = cipher

    def get(self, workspace: str) -> AccessConfig:
        with self.db.session() as s:
            row = s.get(AccessRow, workspace)
            return AccessConfig.model_validate(row.config) if row else AccessConfig()

    def put(self, workspace: str, config: AccessConfig) -> AccessConfig:
        self._row(workspace, config=config.model_dump(mode="json"))
        return config

    def has_secret(self, workspace: str) -> bool:
        with self.db.session() as s:
            row = s.get(AccessRow, workspace)
            return bool(row and row.secret)

    def set_secret(self, workspace: str, secret: str | None = None) -> str:
        """Set (or rotate to) ``secret``, a new random one when None; returns it. Tokens signed
        with the previous secret are rejected from now on.

        Raises:
            InvalidInput: a given secret shorter than 32 characters or with surrounding spaces.
        """
        if secret is None:
            secret = secrets.token_urlsafe(48)
        elif len(secret) < MIN_SECRET_CHARS or secret != secret.strip():
            raise InvalidInput(f"an identity secret needs at least {MIN_SECRET_CHARS} characters and no surrounding "
                               "spaces; omit it to have a random one generated")
        self._row(workspace, secret=self.cipher.encrypt({"secret": secret}))
        return secret

    def verify(self, workspace: str, token: str, now: float | None = None) -> Identity:
        """``verify_token`` under the workspace's secret.

        Raises:
            IdentityRejected: the workspace has no identity secret, or the token fails a check.
        """
        return verify_token(token, secret=self._secret(workspace), workspace=workspace, now=now)

    def sign(self, workspace: str, *, subject: str | None, email: str | None, groups: list[str],
             ttl_seconds: int) -> str:
        """A token for a contact, signed with the workspace's secret (the operator's ``knowdesk access
        token``; integrations sign their own with any JWT library)."""
        claims: dict[str, Any] = {"aud": workspace, "groups": list(_labels(groups, "groups")),
                                  "exp": int(time.time()) + ttl_seconds}
        claims |= {k: v for k, v in (("sub", subject), ("email", email)) if v}
        if "sub" not in claims and "email" not in claims:
            raise InvalidInput("name the contact: give a subject (its id) and/or an email")
        return sign_token(self._secret(workspace), claims)

    def _secret(self, workspace: str) -> str:
        with self.db.session() as s:
            row = s.get(AccessRow, workspace)
            stored = dict(row.secret) if row and row.secret else None
        if stored is None:
            raise IdentityRejected(
                f"workspace {workspace!r} has no identity secret, so no token can be verified; an admin sets one "
                "with `knowdesk access secret` or POST /v1/access/secret", reason="no_secret")
        try:
            values, _ = self.cipher.decrypt(stored, what=f"the identity secret of {workspace!r}")
        except ConfigError as exc:
            raise ConfigError(f"the identity secret of workspace {workspace!r} cannot be decrypted with the configured "
                              "secrets key; restore KNOWDESK_SECRETS__KEY (or the key file) or set a new identity "
                              "secret with `knowdesk access secret`") from exc
        return values["secret"]

    def _row(self, workspace: str, **values: Any) -> None:
        with self.db.session() as s:
            insert_ignore(s, WorkspaceRow.__table__, id=workspace, name=workspace, created_at=utcnow())
            row = s.get(AccessRow, workspace)
            if row is None:
                s.add(AccessRow(workspace=workspace, config=values.get("config", {}), secret=values.get("secret")))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
