"""Encryption at rest of action secrets: Fernet (AES-128-CBC + HMAC-SHA256) through ``MultiFernet``.

The key comes from ``KNOWDESK_SECRETS__KEY`` (comma-separated Fernet keys; the first encrypts,
every one decrypts, so a new key goes first and the old one stays after it until every secret is
re-encrypted) or, when that is unset, from a key file generated once under ``KNOWDESK_HOME``
(``secrets.key``, mode 0600). A stored secret is ``{"enc": "fernet", "token": ...}``; anything
else in the column is a plaintext row from before encryption, which the store re-encrypts.

Example::

    box = SecretBox.from_keys([Fernet.generate_key().decode()])
    token = box.encrypt({"value": "k-123"})
    box.decrypt(token)  # {'value': 'k-123'}
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from core.errors import ConfigError

log = logging.getLogger(__name__)

KEY_FILE = "secrets.key"
SCHEME = "fernet"


class SecretUnreadable(ConfigError):
    """A stored secret cannot be decrypted with the configured keys (the key was changed or lost)."""

    code = "secret_unreadable"


class SecretBox:
    """Encrypts and decrypts secret values (dicts of strings) with a list of Fernet keys.

    Args:
        keys: Fernet keys (url-safe base64, 32 bytes); the first encrypts, all decrypt.
        origin: where the keys come from, named in errors (never the keys themselves).

    Raises:
        ConfigError: no key, or a key that is not a Fernet key.
    """

    def __init__(self, *, keys: Sequence[str], origin: str) -> None:
        if not keys:
            raise ConfigError(f"no secrets key in {origin}")
        try:
            self._fernets = [Fernet(k.strip().encode("ascii")) for k in keys]
        except (ValueError, UnicodeEncodeError):
            raise ConfigError(f"{origin} holds a value that is not a Fernet key (32 url-safe base64-encoded "
                              "bytes); generate one with `python -c 'from cryptography.fernet import Fernet; "
                              "print(Fernet.generate_key().decode())'`") from None
        self._multi = MultiFernet(self._fernets)
        self.origin = origin

    @classmethod
    def from_keys(cls, keys: Sequence[str], *, origin: str = "the given keys") -> SecretBox:
        return cls(keys=keys, origin=origin)

    @classmethod
    def ephemeral(cls) -> SecretBox:
        """A key that lives only in this process (tests, or a store built without a key)."""
        return cls(keys=[Fernet.generate_key().decode()], origin="a key of this process only")

    def encrypt(self, values: dict[str, str]) -> dict[str, Any]:
        """The stored form of ``values``: ``{"enc": "fernet", "token": ...}`` under the first key."""
        token = self._multi.encrypt(json.dumps(values, sort_keys=True).encode("utf-8"))
        return {"enc": SCHEME, "token": token.decode("ascii")}

    def decrypt(self, stored: dict[str, Any], *, what: str, spec: str = "SPEC",
                scheme: str = "SCHEME") -> tuple[dict[str, str], bool]:
        """The values of a stored secret, and whether it should be re-encrypted (under an older key).

        Args:
            stored: the column's value. what: the secret's name for errors (``spec/scheme``);
            spec, scheme: named in the command that sets it again.

        Raises:
            SecretUnreadable: no configured key decrypts it; names ``what`` and what to do.
        """
        token = str(stored.get("token") or "").encode("ascii")
        try:
            self._fernets[0].decrypt(token)
            current = True
        except InvalidToken:
            current = False
        try:
            values = json.loads(self._multi.decrypt(token))
        except InvalidToken:
            raise SecretUnreadable(
                f"the stored secret of {what} cannot be decrypted with the key(s) from {self.origin}; set the "
                "original key again (KNOWDESK_SECRETS__KEY, or restore the key file), listing the new key first "
                f"to rotate, or set this secret again (`knowdesk actions secret {spec} {scheme} --set FIELD=VALUE` "
                f"or PUT /v1/actions/specs/{spec}/secrets/{scheme})", secret=what) from None
        return {str(k): str(v) for k, v in values.items()}, not current

    @staticmethod
    def is_encrypted(stored: dict[str, Any]) -> bool:
        return stored.get("enc") == SCHEME and isinstance(stored.get("token"), str)


def build_secret_box(key: SecretStr | None, home: Path) -> SecretBox:
    """The box of a composition root: ``KNOWDESK_SECRETS__KEY`` or the home folder's key file.

    Raises:
        ConfigError: the key file cannot be read or written, or holds no valid key.
    """
    if key is not None:
        keys = [k.strip() for k in key.get_secret_value().split(",") if k.strip()]
        return SecretBox(keys=keys, origin="KNOWDESK_SECRETS__KEY")
    path = home / KEY_FILE
    return SecretBox(keys=[load_or_create_key(path)], origin=f"the key file {path}")


def load_or_create_key(path: Path) -> str:
    """The key in ``path``, generated (mode 0600) when the file does not exist.

    Created atomically: written to a private temporary file, then hard-linked into place, so two
    processes starting at once end up with the same key.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, Fernet.generate_key() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
            log.info("generated the secrets key %s (mode 0600); back it up: without it stored secrets are lost",
                     path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
        return _read_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the secrets key file {path} ({exc.strerror}); make the folder "
                          "writable or set KNOWDESK_SECRETS__KEY") from exc


def _read_key(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the secrets key file {path} ({exc}); fix its permissions or set "
                          "KNOWDESK_SECRETS__KEY") from exc
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("the secrets key file %s is readable by others (mode %o); run `chmod 600 %s`", path, mode, path)
    if not text:
        raise ConfigError(f"the secrets key file {path} is empty; restore it from a backup, or delete it to "
                          "generate a new key and set every action secret again")
    return text
