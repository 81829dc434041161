"""The UI's pages over HTTP, without a browser: sign-in, the session cookies, CSRF, the security headers and
the return to the deep link (the in-process app; ``test_browser.py`` drives the real stack)."""

from __future__ import annotations

import re
import time

import httpx

from flowservice.settings import Settings
from tests.fixtures.server import Api, make_api, start_server, stop_server

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(http, path: str = "/ui/login") -> str:
    match = CSRF.search(http.get(path).text)
    assert match is not None
    return match.group(1)


def sign_in(api: Api, secret: str | None = None, next_url: str = "") -> httpx.Response:
    http = api.http
    form = {
        "csrf_token": csrf_of(http),
        "org": api.org,
        "client_id": api.client_id,
        "client_secret": api.client_secret if secret is None else secret,
        "next": next_url,
    }
    return http.post("/ui/login", data=form, follow_redirects=False)


def test_root_redirects_to_the_ui_and_the_ui_to_sign_in(api: Api) -> None:
    assert api.http.get("/", follow_redirects=False).headers["location"] == "/ui"
    assert api.http.get("/ui", follow_redirects=False).headers["location"] == "/ui/login"


def test_sign_in_sets_httponly_strict_cookies_and_keeps_no_secret(api: Api) -> None:
    answer = sign_in(api, next_url="/ui/s/prod/accounts")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/s/prod/accounts"
    cookies = answer.headers.get_list("set-cookie")
    assert {c.split("=", 1)[0] for c in cookies} >= {"fs_token", "fs_client", "fs_org"}
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert api.client_secret not in cookie
    page = api.http.get("/ui/s/prod/accounts")
    assert page.status_code == 200 and "<h1>Accounts</h1>" in page.text
    assert api.client_secret not in page.text and api.token not in page.text


def test_a_wrong_secret_shows_the_apis_message_and_sets_no_session(api: Api) -> None:
    answer = sign_in(api, secret="wrong")
    assert answer.status_code == 401 and 'role="alert"' in answer.text
    assert "The client_id or client_secret is not valid." in answer.text
    assert not [c for c in answer.headers.get_list("set-cookie") if c.startswith("fs_token=")]


def test_a_wrong_org_is_refused_with_the_apis_403(api: Api) -> None:
    http = api.http
    form = {"csrf_token": csrf_of(http), "org": "NOT-MINE@AdobeOrg", "client_id": api.client_id}
    answer = http.post("/ui/login", data={**form, "client_secret": api.client_secret})
    assert answer.status_code == 403 and "does not have access to the organization NOT-MINE@AdobeOrg" in answer.text


def test_pages_carry_a_strict_csp_and_refuse_framing(api: Api) -> None:
    headers = api.http.get("/ui/login").headers
    assert headers["content-security-policy"].startswith("default-src 'self'; frame-ancestors 'none'")
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "same-origin"


def test_a_state_change_without_the_csrf_token_or_from_another_site_is_refused(api: Api) -> None:
    sign_in(api)
    token = csrf_of(api.http, "/ui/s/prod/sources")
    missing = api.http.post("/ui/logout", data={}, follow_redirects=False)
    assert missing.status_code == 403 and "security token" in missing.text
    cross = api.http.post(
        "/ui/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert cross.status_code == 403 and "another site" in cross.text
    signed_out = api.http.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/ui/login"


def test_an_expired_token_sends_the_user_to_sign_in_and_back_to_the_deep_link(tmp_path) -> None:
    api = make_api(Settings(data_dir=tmp_path / "data", token_lifetime_seconds=1))
    try:
        sign_in(api)
        token = api.http.cookies.get("fs_token", path="/ui")
        time.sleep(2.1)  # the token's lifetime runs out, and its cookie's (the jar no longer sends it)
        deep = "/ui/s/prod/sources?q=dyn"
        bounced = api.http.get(deep, follow_redirects=False)
        assert bounced.status_code == 303
        assert bounced.headers["location"] == "/ui/login?next=/ui/s/prod/sources%3Fq%3Ddyn&expired=1"
        login = api.http.get(bounced.headers["location"])
        assert 'name="next" value="/ui/s/prod/sources?q=dyn"' in login.text and "session has ended" in login.text
        assert sign_in(api, next_url="/ui/s/prod/sources?q=dyn").headers["location"] == deep
        # a token the API itself refuses as expired (a browser that kept the cookie) takes the same way back
        api.http.cookies.set("fs_token", token, path="/ui")
        refused = api.http.get(deep, follow_redirects=False)
        assert refused.headers["location"] == "/ui/login?next=/ui/s/prod/sources%3Fq%3Ddyn&expired=1"
    finally:
        assert api.container is not None
        api.container.close()


def test_an_unknown_sandbox_is_the_apis_404_page(api: Api) -> None:
    sign_in(api)
    answer = api.http.get("/ui/s/nope/sources")
    assert answer.status_code == 404 and "The sandbox with the name &#39;nope&#39; could not be found." in answer.text


def test_the_api_calls_drawer_lists_each_call_with_a_curl_that_hides_the_token(api: Api) -> None:
    sign_in(api)
    page = api.http.get("/ui/s/prod/accounts").text
    assert "API calls (3)" in page
    assert "/data/foundation/flowservice/connections?limit=50" in page
    assert "Bearer $ACCESS_TOKEN" in page and api.token not in page


def test_the_ui_of_one_server_works_against_the_api_of_another(live_server, tmp_path) -> None:
    """With FLOWSERVICE_UI_API_URL the UI reaches its API over HTTP only: the pages of server B show what
    lives in server A (B's own database does not even know the client)."""
    api = live_server.client("UI-REMOTE@AdobeOrg")
    created = api.create_connection(
        "Remote one",
        auth_spec="Basic Authentication for Dynamics-Online",
        params={"serviceUri": "https://example.crm.dynamics.com", "username": "u@example.com", "password": "pw"},
    )
    ui = start_server(tmp_path / "ui", {"FLOWSERVICE_UI_API_URL": live_server.url})
    try:
        with httpx.Client(base_url=ui.url, timeout=30) as http:
            form = {
                "csrf_token": csrf_of(http),
                "org": api.org,
                "client_id": api.client_id,
                "client_secret": api.client_secret,
                "next": "/ui/s/prod/accounts",
            }
            signed_in = http.post("/ui/login", data=form)
            assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/s/prod/accounts"
            page = http.get("/ui/s/prod/accounts").text
            assert "Remote one" in page and created.id in page
            assert f"curl -X GET &#39;{live_server.url}/data/foundation/flowservice/connections" in page
    finally:
        stop_server(ui)
        api.close()


def test_a_page_says_in_server_timing_how_long_the_api_and_the_ui_each_took(api: Api) -> None:
    sign_in(api)
    timing = api.http.get("/ui/s/prod/accounts").headers["server-timing"]
    found = re.fullmatch(r'api;dur=([0-9.]+);desc="(\d+) API calls", ui;dur=([0-9.]+)', timing)
    assert found is not None, timing
    assert int(found.group(2)) >= 2  # the sandbox listing, then the accounts
    assert float(found.group(1)) > 0 and float(found.group(3)) > 0
