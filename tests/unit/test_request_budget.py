"""The budget of ``POST /runs`` per client and per org, on a fake clock."""

import pytest

from flowservice.domain.errors import TooManyRequests
from flowservice.services.request_budget import RequestBudget
from tests.unit.test_token_guard import Clock


def test_a_client_past_its_budget_is_refused_with_the_seconds_until_its_oldest_request_leaves() -> None:
    clock = Clock()
    budget = RequestBudget("POST /runs", per_client=3, per_org=100, window=60, clock=clock)
    for _ in range(3):
        budget.take("ORG", "client")
        clock.now += 10
    with pytest.raises(TooManyRequests) as refused:
        budget.take("ORG", "client")
    assert refused.value.status == 429 and refused.value.retry_after == 30
    assert "POST /runs" in refused.value.message
    budget.take("ORG", "colleague")  # another client of the org has its own budget
    clock.now += 30
    budget.take("ORG", "client")  # the first request left the window


def test_an_org_past_its_budget_is_refused_for_every_client_and_a_refusal_costs_no_client_budget() -> None:
    clock = Clock()
    budget = RequestBudget("POST /runs", per_client=2, per_org=3, window=60, clock=clock)
    budget.take("ORG", "a")
    budget.take("ORG", "b")
    budget.take("ORG", "c")
    clock.now += 30
    with pytest.raises(TooManyRequests):
        budget.take("ORG", "d")
    budget.take("OTHER", "d")  # the client id in another org is another budget
    budget.take("OTHER", "e")
    clock.now += 31  # the org's three left the window; a refused request of d's, had it counted, would not
    budget.take("ORG", "d")
    budget.take("ORG", "d")  # d's refused request above was given back: two of two, now spent
    with pytest.raises(TooManyRequests):
        budget.take("ORG", "d")


def test_a_zero_budget_never_refuses() -> None:
    budget = RequestBudget("POST /runs", per_client=0, per_org=0, clock=Clock())
    for _ in range(1000):
        budget.take("ORG", "client")
