"""The sign-in redirect stays under /ui, and the API calls drawer never shows a token or a secret."""

import pytest

from flowservice.web.client import ApiCall, redact
from flowservice.web.session import HOME, safe_next


@pytest.mark.parametrize(
    "value",
    ["https://evil.example/ui", "//evil.example/ui", "/\\evil", "/uix", "/other", "", "/ui/login?next=/ui", "ui"],
)
def test_a_next_outside_the_ui_goes_home(value: str) -> None:
    assert safe_next(value) == HOME


def test_a_deep_link_under_the_ui_is_kept_with_its_query() -> None:
    assert safe_next("/ui/s/dev/accounts/abc/explore?table=account&q=con") == (
        "/ui/s/dev/accounts/abc/explore?table=account&q=con"
    )


def test_secrets_are_redacted_at_any_depth() -> None:
    body = {"auth": {"params": {"username": "u", "password": "pw", "servicePrincipalKey": "k"}}}
    assert redact(body) == {
        "auth": {"params": {"username": "u", "password": "<secret>", "servicePrincipalKey": "<secret>"}}
    }


def test_copy_as_curl_names_the_token_as_a_shell_variable() -> None:
    headers = {"Authorization": "Bearer $ACCESS_TOKEN", "x-api-key": "abc", "x-sandbox-name": "prod"}
    call = ApiCall("GET", "/data/foundation/flowservice/connections?limit=50", 200, 3.2, headers)
    curl = call.curl("http://127.0.0.1:8080/")
    assert curl == (
        "curl -X GET 'http://127.0.0.1:8080/data/foundation/flowservice/connections?limit=50'"
        " -H \"Authorization: Bearer $ACCESS_TOKEN\" -H 'x-api-key: abc' -H 'x-sandbox-name: prod'"
    )
