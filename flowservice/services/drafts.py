"""Draft mode: ``mode=draft`` on a create, ``op=publish`` later (Adobe's "drafts of Flow Service entities").

A draft is a resource stored with ``state: "draft"``: listed (``property=state==draft``), read, patched and
deleted like any other, but checked for shape only: each field it has must have the right type, while the
required ones may be missing and what it names (a base connection, a table, a dataset, connections of a flow)
need not exist yet. Nothing uses a draft: a run, an enable, an explore or a complete resource naming it is
refused until it is published. Publishing runs, on the draft's fields, the very validation a plain create runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from jsonschema import Draft7Validator

from flowservice.domain.errors import InvalidRequest
from flowservice.ports import Stored
from flowservice.services.specs import validation_message

DRAFT = "draft"

_SHAPE_VALIDATORS: dict[int, tuple[Draft7Validator, Draft7Validator]] = {}


def draft_mode(values: Sequence[str]) -> bool:
    """Whether the ``mode`` query parameters of a create ask for a draft; any other mode is refused."""
    if not values:
        return False
    if len(values) > 1:
        raise InvalidRequest("The query parameter 'mode' is sent more than once; send it once (mode=draft).")
    if values[0].strip().lower() != DRAFT:
        raise InvalidRequest(
            f"Unsupported mode {values[0][:40]!r}; the only mode of a create is 'draft' (mode=draft), "
            "or send no mode for a complete resource."
        )
    return True


def is_draft(doc: dict[str, Any]) -> bool:
    return doc.get("state") == DRAFT


def require_draft_support(attributes: Any, what: str) -> None:
    """Draft mode is for the specs that say so (``attributes.isDraftModeSupported``), as Adobe's are."""
    if not (isinstance(attributes, dict) and attributes.get("isDraftModeSupported") is True):
        raise InvalidRequest(f"The {what} does not support draft mode; create the resource without mode=draft.")


def require_published(stored: Stored, field: str) -> None:
    """A complete resource never names a draft: what it names is published first."""
    if is_draft(stored.doc):
        raise InvalidRequest(
            f"The {stored.kind} resource {stored.id} named in '{field}' is a draft; publish it first "
            f"(POST /{stored.kind}/{stored.id}/action?op=publish).",
            code="1422",
        )


def keep_draft_state(kind: str, id: str, new: dict[str, Any]) -> None:
    """A patch cannot publish a draft by writing its state: publishing validates, a patch of a draft does not."""
    if new.get("state") != DRAFT:
        raise InvalidRequest(
            f"The state of a draft stays 'draft' until it is published with POST /{kind}/{id}/action?op=publish.",
            code="1455",
        )


def shape_message(validator: Draft7Validator, instance: Any, prefix: str) -> str | None:
    """``validation_message`` with every ``required`` of the schema dropped: a draft's fields have their types,
    but any of them may still be missing."""
    cached = _SHAPE_VALIDATORS.get(id(validator))
    if cached is None or cached[0] is not validator:
        cached = (validator, Draft7Validator(_without_required(validator.schema)))
        _SHAPE_VALIDATORS[id(validator)] = cached
    return validation_message(cached[1], instance, prefix)


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if not (k == "required" and isinstance(v, list))}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


def check_types(
    body: dict[str, Any],
    *,
    strings: Sequence[str] = (),
    objects: Sequence[str] = (),
    id_lists: Sequence[str] = (),
    object_lists: Sequence[str] = (),
) -> None:
    """Each field of ``body`` that is there has its type (a draft's one check of the fields it was sent)."""
    kinds: tuple[tuple[Sequence[str], str, Callable[[Any], bool]], ...] = (
        (strings, "a string", lambda v: isinstance(v, str)),
        (objects, "an object", lambda v: isinstance(v, dict)),
        (id_lists, "an array of ids (strings)", lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v)),
        (object_lists, "an array of objects", lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v)),
    )
    for keys, what, fits in kinds:
        for key in keys:
            if body.get(key) is not None and not fits(body[key]):
                raise InvalidRequest(f"The field '{key}' must be {what}.")


def present(body: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The fields of ``body`` among ``keys`` that were sent (a draft stores only what it was given)."""
    return {k: body[k] for k in keys if body.get(k) is not None}
