"""The account page's edit: the JSON Patch a form submission makes, and what a 412 shows."""

from __future__ import annotations

from flowservice.web.views.account_page import changes_between, patch_of

FIELDS = [
    {"name": "serviceUri", "label": "Service URI", "secret": False},
    {"name": "username", "label": "Username", "secret": False},
    {"name": "password", "label": "Password", "secret": True},
]
SEEN = {
    "seen.name": "Sales",
    "seen.description": "",
    "seen.p.serviceUri": "https://org.example",
    "seen.p.username": "ann",
}


def test_only_changed_fields_are_patched_and_an_empty_secret_keeps_the_stored_one() -> None:
    form = {**SEEN, "name": "Sales", "description": "", "p.serviceUri": "https://org.example", "p.username": "bob"}
    assert patch_of(FIELDS, {**form, "p.password": ""}) == [
        {"op": "add", "path": "/auth/params/username", "value": "bob"}
    ]
    assert patch_of(FIELDS, {**form, "name": " New ", "p.username": "ann", "p.password": "s3cret"}) == [
        {"op": "add", "path": "/name", "value": "New"},
        {"op": "add", "path": "/auth/params/password", "value": "s3cret"},
    ]


def test_a_conflict_lists_what_changed_elsewhere_and_what_the_user_edited_never_a_secret() -> None:
    form = {**SEEN, "name": "Sales", "description": "mine", "p.serviceUri": "https://org.example", "p.username": "ann"}
    current = {
        "name": "Renamed",
        "auth": {"params": {"serviceUri": "https://org.example", "username": "ann", "password": "********"}},
    }
    found = {c.field: (c.elsewhere, c.seen, c.now, c.mine) for c in changes_between(FIELDS, form, current)}
    assert found == {"name": (True, "Sales", "Renamed", "Sales"), "description": (False, "", "", "mine")}
