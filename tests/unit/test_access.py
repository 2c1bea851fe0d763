"""End-user access (issue 19): identity tokens, the group -> audience mapping, the store and the
session's verified identity, on the state database (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from actions.secrets import SecretBox
from agent.access import AccessConfig, AccessStore, Identity, IdentityRejected, sign_token, verify_token
from agent.sessions import ContactRef, SessionStore
from core.db import Database
from core.errors import InvalidInput
from core.models import PUBLIC, Viewer

SECRET = "k" * 40
NOW = 1_900_000_000


def claims(**extra: Any) -> dict[str, Any]:
    return {"aud": "acme", "sub": "c-42", "email": "Ann@Example.com", "groups": ["partners"], "exp": NOW + 600} | extra


def reason(token: str, *, secret: str = SECRET, workspace: str = "acme") -> str:
    with pytest.raises(IdentityRejected) as info:
        verify_token(token, secret=secret, workspace=workspace, now=NOW)
    assert info.value.http_status == 401 and info.value.message.startswith("identity token rejected: ")
    return str(info.value.fields["reason"])


def test_a_valid_token_gives_the_verified_identity() -> None:
    identity = verify_token(sign_token(SECRET, claims()), secret=SECRET, workspace="acme", now=NOW)
    assert (identity.subject, identity.email, identity.groups) == ("c-42", "ann@example.com", ("partners",))
    assert identity.expires_at.timestamp() == NOW + 600
    listed = verify_token(sign_token(SECRET, claims(aud=["other", "acme"])), secret=SECRET, workspace="acme", now=NOW)
    assert listed.groups == ("partners",)


def test_every_untrustworthy_token_is_rejected_with_its_reason() -> None:
    good = sign_token(SECRET, claims())
    head, body, mac = good.split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(groups=["staff"])).encode()).rstrip(b"=").decode()
    none_head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    assert reason(good, secret="x" * 40) == "signature"
    assert reason(f"{head}.{forged}.{mac}") == "signature"  # groups changed after signing
    assert reason(f"{none_head}.{body}.") == "algorithm"
    assert reason(sign_token(SECRET, claims(exp=NOW - 1))) == "expired"
    assert reason(sign_token(SECRET, {k: v for k, v in claims().items() if k != "exp"})) == "expiry"
    assert reason(sign_token(SECRET, claims(exp="tomorrow"))) == "expiry"
    assert reason(good, workspace="globex") == "workspace"
    assert reason(sign_token(SECRET, claims(aud=None))) == "workspace"
    assert reason(sign_token(SECRET, claims(sub=None, email="not-an-email"))) == "contact"
    assert reason(sign_token(SECRET, claims(groups="partners"))) == "groups"
    assert reason(sign_token(SECRET, claims(groups=[" padded"]))) == "groups"
    assert reason(sign_token(SECRET, claims(groups=[7]))) == "groups"
    for malformed in ("", "abc", "a.b", "a.b.c.d", "!!.??.**", "x" * 20_000):
        assert reason(malformed) == "malformed"


def test_the_mapping_opens_labels_for_groups_and_configured_contacts() -> None:
    config = AccessConfig(groups={"partners": ("segment:Partners",), "staff": ("group:staff@example.com",
                                                                              "domain:example.com")},
                          contacts={"domain:Example.com": ("staff",), "sub:c-7": ("partners",)})
    ann = Identity(subject="c-42", email="ann@example.com", groups=("partners", "unmapped"), expires_at=NOW)
    assert config.groups_of(ann) == ("partners", "unmapped", "staff")
    assert config.viewer(ann) == Viewer(labels=("segment:Partners", "group:staff@example.com", "domain:example.com"))
    assert config.viewer(Identity(subject="c-7", expires_at=NOW)) == Viewer(labels=("segment:Partners",))
    assert config.viewer(Identity(subject="c-9", groups=("unmapped",), expires_at=NOW)) == PUBLIC
    assert config.viewer(None) == PUBLIC
    assert PUBLIC.allows([]) and not PUBLIC.allows(["segment:Partners"])
    assert Viewer.everyone().allows(["anything"]) and Viewer(labels=("a",)).allows(["b", "a"])


@pytest.mark.parametrize(("data", "message"), [
    ({"groups": ["partners"]}, "must be an object"),
    ({"groups": {"partners": "segment:Partners"}}, "valid tuple"),
    ({"groups": {" partners": ["x"]}}, "group name"),
    ({"groups": {"partners": [""]}}, "printable"),
    ({"groups": {"partners": ["confluence:no-shared-audience"]}}, "nobody may see"),
    ({"contacts": {"ann@example.com": ["staff"]}}, "email:ADDRESS"),
    ({"contacts": {"domain:": ["staff"]}}, "email:ADDRESS"),
    ({"roles": {}}, "Extra inputs"),
])
def test_a_malformed_mapping_says_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AccessConfig.model_validate(data)


def test_the_store_keeps_the_mapping_and_an_encrypted_secret(db: Database) -> None:
    store = AccessStore(db=db, cipher=SecretBox.ephemeral())
    with pytest.raises(IdentityRejected, match="no identity secret") as info:
        store.verify("acme", sign_token(SECRET, claims()))
    assert info.value.fields["reason"] == "no_secret"
    with pytest.raises(InvalidInput, match="at least 32"):
        store.set_secret("acme", "short")
    store.put("acme", AccessConfig(groups={"partners": ("segment:Partners",)}))
    assert store.get("acme").groups == {"partners": ("segment:Partners",)} and store.get("globex") == AccessConfig()
    first = store.set_secret("acme")
    assert len(first) >= 32 and store.has_secret("acme") and not store.has_secret("globex")
    with db.session() as s:
        stored = json.dumps(s.execute(text("SELECT secret FROM agent_access WHERE workspace = 'acme'")).scalar_one())
    assert first not in stored  # encrypted at rest
    token = store.sign("acme", subject="c-42", email=None, groups=["partners"], ttl_seconds=60)
    assert store.verify("acme", token).groups == ("partners",)
    store.set_secret("acme")  # rotation: tokens of the old secret stop working
    with pytest.raises(IdentityRejected, match="bad signature"):
        store.verify("acme", token)
    store.set_secret("globex")
    with pytest.raises(IdentityRejected, match="for workspace 'acme', not 'globex'"):
        store.verify("globex", token)
    with pytest.raises(InvalidInput, match="name the contact"):
        store.sign("acme", subject=None, email=None, groups=[], ttl_seconds=60)


def test_a_session_keeps_the_verified_identity_and_its_contact(db: Database) -> None:
    sessions = SessionStore(db=db)
    identity = verify_token(sign_token(SECRET, claims()), secret=SECRET, workspace="acme", now=NOW)
    opened = sessions.create("acme", channel="web", identity=identity, contact=ContactRef(name="Ann"))
    again = sessions.get("acme", opened.id)
    assert again.identity == identity
    assert (again.contact.email, again.contact.external_id, again.contact.name) == ("ann@example.com", "c-42", "Ann")
    assert sessions.create("acme", channel="web", contact=ContactRef(email="ann@example.com")).identity is None
    with pytest.raises(InvalidInput, match="differs from the identity token"):
        sessions.create("acme", channel="web", identity=identity, contact=ContactRef(email="eve@example.com"))
