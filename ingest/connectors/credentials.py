"""The base of a connector's credentials model (``ingest/connectors/<kind>/credentials.py``).

Secrets never go in a source's options (those are stored and listed by the API): a SaaS
connector's credentials come from the environment, ``KNOWDESK_<SECTION>__<FIELD>``, read by
``core.settings.env_section`` and validated by the connector's own model, which the registry names
beside the connector (so ``Settings`` in core knows no connector).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from core.errors import ConfigError
from core.settings import env_section


class Credentials(BaseModel):
    """One connector's credentials: every field optional (the connector says which it needs, in
    ``check()``), secrets as ``SecretStr``; ``section`` names the variables' prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``zendesk`` for ``KNOWDESK_ZENDESK__*``.
    section: ClassVar[str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The credentials from the ``KNOWDESK_<SECTION>__*`` variables of ``environ`` (the process's
        by default).

        Raises:
            ConfigError: naming each unknown or invalid variable.
        """
        try:
            return cls(**env_section(cls.section, environ))
        except ValidationError as exc:
            problems = "; ".join(cls._problem(err) for err in exc.errors())
            raise ConfigError(f"invalid {cls.section} credentials: {problems}") from None

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable of ``field``: ``KNOWDESK_ZENDESK__API_TOKEN`` for ``api_token``."""
        return f"KNOWDESK_{cls.section.upper()}__{field.upper()}"

    def secret(self, field: str) -> str | None:
        """The value of ``field`` as plain text; None when unset or empty."""
        value = getattr(self, field)
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return str(text) if text else None

    @classmethod
    def _problem(cls, error: Any) -> str:
        name = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            known = ", ".join(cls.variable(f) for f in cls.model_fields)
            return f"unknown variable {cls.variable(name)} (known: {known})"
        return f"{cls.variable(name)}: {error['msg']}"
