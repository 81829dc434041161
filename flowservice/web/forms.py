"""Connection forms generated from a connection spec's ``authSpec`` JSON Schemas (pure: no I/O).

One form per auth spec: each schema property becomes a labelled input; ``format: password`` an input of type
password (always rendered empty), ``required`` the attribute ``required``, ``description`` the help text the
input names with ``aria-describedby``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ACRONYMS = {"uri": "URI", "url": "URL", "id": "ID", "api": "API", "sql": "SQL"}
_SHORT = {"basicAuthentication": "Basic", "servicePrincipalKeyBasedAuthentication": "Service principal"}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    input_type: str
    """``text``, ``password``, ``url`` or ``number``."""
    required: bool
    description: str
    min_length: int | None = None

    @property
    def secret(self) -> bool:
        return self.input_type == "password"


@dataclass(frozen=True)
class AuthForm:
    spec_name: str
    """The ``auth.specName`` the API expects."""
    type: str
    label: str
    description: str
    fields: tuple[Field, ...]


def label_of(name: str) -> str:
    """``servicePrincipalId`` → ``Service principal ID``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).split()
    shown = [_ACRONYMS.get(w.lower(), w.lower()) for w in words]
    if shown and shown[0].islower():
        shown[0] = shown[0].capitalize()
    return " ".join(shown)


def auth_forms(spec: Mapping[str, Any]) -> list[AuthForm]:
    forms = []
    for auth in spec.get("authSpec") or []:
        schema = auth.get("spec") or {}
        required = set(schema.get("required") or [])
        fields = []
        for name, prop in (schema.get("properties") or {}).items():
            kind = prop.get("type")
            fmt = prop.get("format")
            input_type = "password" if fmt == "password" else "number" if kind in ("integer", "number") else "text"
            fields.append(
                Field(
                    name=name,
                    label=label_of(name),
                    input_type=input_type,
                    required=name in required,
                    description=str(prop.get("description") or ""),
                    min_length=prop.get("minLength"),
                )
            )
        kind = str(auth.get("type") or auth.get("name"))
        forms.append(
            AuthForm(
                spec_name=str(auth["name"]),
                type=kind,
                label=_SHORT.get(kind, label_of(kind)),
                description=str(schema.get("description") or ""),
                fields=tuple(fields),
            )
        )
    return forms


def pick(forms: list[AuthForm], wanted: str | None) -> AuthForm | None:
    """The form whose type or spec name is ``wanted`` (case-insensitive), else the first."""
    for form in forms:
        if wanted and wanted.lower() in (form.type.lower(), form.spec_name.lower()):
            return form
    return forms[0] if forms else None


def params_from(form: AuthForm, submitted: Mapping[str, str]) -> dict[str, str]:
    """The auth params of a submitted form (fields named ``p.<name>``), empty optional ones left out."""
    params = {}
    for field in form.fields:
        value = submitted.get("p." + field.name, "")
        if not field.secret:
            value = value.strip()
        if value or field.required:
            params[field.name] = value
    return params


def hint_for(message: str) -> str | None:
    """What to do about a failed connection test, from the API's message."""
    text = message.lower()
    if "mfa" in text or "multi-factor" in text or "aadsts50076" in text or "aadsts50079" in text:
        return "This account needs multi-factor sign-in: use a service principal instead of a username and password."
    if "private" in text or "loopback" in text or "not allowed to reach" in text:
        return (
            "The service URI resolves to a private or loopback address; the server refuses those unless "
            "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES=true."
        )
    if "certificate" in text or "ssl" in text or "tls" in text:
        return (
            "The server does not trust the source's TLS certificate; point FLOWSERVICE_DYNAMICS_CA_BUNDLE at "
            "the CA that signed it."
        )
    if "password" in text or "credential" in text or "invalid_grant" in text or "unauthorized" in text:
        return "Check the username and password (or the service principal's id and key), then retry."
    if "resolve" in text or "connect" in text or "timed out" in text:
        return "Check the service URI: the server could not reach it."
    return None
