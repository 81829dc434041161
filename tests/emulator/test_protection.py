"""Service protection per user and web server, the cost model, the affinity cookie and x-ms-dop-hint.

Windows are shortened (``Limits.scaled``) so that each budget runs out within a second or two; every
assertion is about what the emulator answered, never about how long it took.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig
from crm_emulator.cost import CostModel
from crm_emulator.protection import AFFINITY_COOKIE, Limits


def app_with(**options: Any) -> Any:
    return create_app(EmulatorConfig(scale=100, seed=5, **options))


def client(app: Any) -> httpx.AsyncClient:
    token, _ = app.emulator.identity.issue("app")
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=app.emulator.config.api_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def protection(app: Any) -> dict[str, Any]:
    async def get() -> dict[str, Any]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=app.emulator.config.org_url
        ) as admin:
            return dict((await admin.get("/_emulator/protection")).json())

    return asyncio.run(get())


def test_the_request_count_budget_answers_429_0x80072322_with_retry_after_once_exhausted():
    app = app_with(protection=Limits.scaled(10))  # 200 requests per 10 s

    async def run() -> list[httpx.Response]:
        async with client(app) as api:
            return [await api.get("WhoAmI") for _ in range(201)]

    responses = asyncio.run(run())
    assert [r.status_code for r in responses[:200]] == [200] * 200
    refused = responses[200]
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "code": "0x80072322",
            "message": "Number of requests exceeded the limit of 200 over time window of 10 seconds.",
        }
    }
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    budget = protection(app)["budgets"][0]
    assert budget["requests"] == 200 and budget["throttled"]["requests"] == 1
    assert budget["max_window_requests"] == 200


def test_the_execution_time_budget_answers_429_0x80072321_once_exhausted():
    # 40 s of execution per 10 s window; 41 concurrent requests of 1 s each exceed it (one server: concurrent
    # requests without a cookie yet would otherwise spread over both).
    app = app_with(
        protection=Limits.scaled(10), web_servers=1, cost_model=CostModel(fixed_ms=1000, per_row_us=0, per_column_us=0)
    )

    async def run() -> tuple[list[httpx.Response], httpx.Response]:
        async with client(app) as api:
            first = await asyncio.gather(*(api.get("WhoAmI") for _ in range(41)))
            return list(first), await api.get("WhoAmI")

    first, refused = asyncio.run(run())
    assert all(r.status_code == 200 for r in first)
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "code": "0x80072321",
        "message": "Combined execution time of incoming requests exceeded limit of 40,000  milliseconds over time "
        "window of 10 seconds. Decrease number of concurrent requests or reduce the duration of requests and try "
        "again later.",
    }
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    budget = protection(app)["budgets"][0]
    assert budget["execution_seconds"] == 41.0 and budget["throttled"]["execution_time"] == 1


def test_more_concurrent_requests_than_the_limit_are_refused_at_once_with_0x80072326():
    app = app_with(protection=Limits.scaled(10, concurrency=5), web_servers=1, cost_model=CostModel(500, 0, 0))

    async def run() -> list[httpx.Response]:
        async with client(app) as api:
            return list(await asyncio.gather(*(api.get("WhoAmI") for _ in range(6))))

    responses = asyncio.run(run())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [429]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"] == {
        "code": "0x80072326",
        "message": "Number of concurrent requests exceeded the limit of 5.",
    }
    assert refused.headers["Retry-After"] == "1"
    assert protection(app)["budgets"][0]["peak_concurrency"] == 5


def test_only_the_modelled_execution_time_is_charged_not_the_transfer():
    model = CostModel(fixed_ms=10, per_row_us=100, per_column_us=2)
    app = app_with(protection=Limits(), cost_model=model)

    async def run() -> httpx.Response:
        async with client(app) as api:
            return await api.get("accounts?$select=name", headers={"Prefer": "odata.maxpagesize=30"})

    page = asyncio.run(run())
    assert len(page.json()["value"]) == 30
    charged = protection(app)["budgets"][0]["execution_seconds"]
    # name + accountid: 2 columns per row
    assert charged == round(0.010 + 30 * (100 + 2 * 2) / 1e6, 6)


def test_the_affinity_cookie_sticks_to_one_server_and_dropping_it_gives_another_budget():
    app = app_with(protection=Limits.scaled(3), web_servers=2)  # 60 requests per 3 s and server

    async def run() -> tuple[list[int], httpx.Response, str, httpx.Response]:
        async with client(app) as api:
            statuses = [(await api.get("WhoAmI")).status_code for _ in range(61)]
            first_cookie = api.cookies[AFFINITY_COOKIE]
            api.cookies.clear()
            other = await api.get("WhoAmI")
            api.cookies.clear()
            api.cookies.set(AFFINITY_COOKIE, first_cookie)
            back = await api.get("WhoAmI")
            return statuses, other, first_cookie, back

    statuses, other, first_cookie, back = asyncio.run(run())
    assert statuses == [200] * 60 + [429], "every request stuck to the first server"
    assert other.status_code == 200, "a request without the cookie went to the second server's budget"
    assert AFFINITY_COOKIE in other.cookies and other.cookies[AFFINITY_COOKIE] != first_cookie
    assert back.status_code == 429 and back.json()["error"]["code"] == "0x80072322"
    budgets = protection(app)["budgets"]
    assert sorted(b["server"] for b in budgets) == [0, 1]
    assert {b["server"]: b["requests"] for b in budgets} == {0: 60, 1: 1}


def test_budgets_are_per_user():
    app = app_with(protection=Limits.scaled(3))

    async def run() -> tuple[int, int]:
        user_token, _ = app.emulator.identity.issue("user")
        async with client(app) as api:
            for _ in range(60):
                await api.get("WhoAmI")
            app_refused = (await api.get("WhoAmI")).status_code
            other_user = await api.get("WhoAmI", headers={"Authorization": f"Bearer {user_token}"})
            return app_refused, other_user.status_code

    assert asyncio.run(run()) == (429, 200)


def test_responses_carry_the_dop_hint_and_the_remaining_budget():
    app = app_with(protection=Limits.scaled(3), dop_hint=11)

    async def run() -> httpx.Response:
        async with client(app) as api:
            await api.get("WhoAmI")
            return await api.get("accounts?$top=1")

    response = asyncio.run(run())
    assert response.headers["x-ms-dop-hint"] == "11"
    assert response.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "58"


def test_without_protection_there_is_no_cookie_and_the_dop_hint_is_still_sent():
    app = app_with()

    async def run() -> httpx.Response:
        async with client(app) as api:
            return await api.get("accounts?$top=1")

    response = asyncio.run(run())
    assert response.headers["x-ms-dop-hint"] == "4"
    assert "set-cookie" not in response.headers


def test_the_command_line_server_enforces_a_shortened_window_over_https(start_emulator):
    emulator = start_emulator(protection_window_seconds=10, cost_fixed_ms=1, web_servers=2)
    with emulator.client() as api:
        statuses = [api.get("WhoAmI").status_code for _ in range(201)]
        refused = api.get("WhoAmI")
    assert statuses == [200] * 200 + [429]
    assert refused.json()["error"]["code"] == "0x80072322" and int(refused.headers["Retry-After"]) >= 1
    assert emulator.protection() == emulator.stats()["protection"]
    stats = emulator.protection()
    assert stats["limits"] == {"window_seconds": 10.0, "requests": 200, "execution_seconds": 40.0, "concurrency": 52}
    (budget,) = stats["budgets"]
    assert budget["requests"] == 200 and budget["throttled"]["requests"] == 2
    assert budget["execution_seconds"] == round(200 * 0.001, 6), "WhoAmI costs the fixed part only"
    emulator.reset_protection()
    assert emulator.protection()["budgets"] == []
    with emulator.client() as api:
        assert api.get("WhoAmI").status_code == 200, "a fresh window admits again"


def test_a_client_that_waits_retry_after_is_admitted_again():
    app = app_with(protection=Limits.scaled(2), web_servers=1)  # 40 requests per 2 s

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with client(app) as api:
            refused = None
            while refused is None:
                response = await api.get("WhoAmI")
                if response.status_code == 429:
                    refused = response
            await asyncio.sleep(int(refused.headers["Retry-After"]))
            return refused, await api.get("WhoAmI")

    refused, again = asyncio.run(run())
    assert refused.json()["error"]["code"] == "0x80072322"
    assert again.status_code == 200


def test_waiting_retry_after_the_execution_time_limit_admits_again():
    app = app_with(protection=Limits.scaled(2), web_servers=1, cost_model=CostModel(1000, 0, 0))  # 8 s per 2 s

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with client(app) as api:
            await asyncio.gather(*(api.get("WhoAmI") for _ in range(9)))
            refused = await api.get("WhoAmI")
            await asyncio.sleep(int(refused.headers["Retry-After"]))
            return refused, await api.get("WhoAmI")

    refused, again = asyncio.run(run())
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "0x80072321"
    assert again.status_code == 200
