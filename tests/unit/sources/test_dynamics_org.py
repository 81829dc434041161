"""The org's identity as the Dynamics source reports it: id and version from ``organizations``, the id alone
from ``WhoAmI`` when that set is empty or has no version, the version left out when the operator says so."""

from __future__ import annotations

from typing import Any, cast

import pytest

from flowservice.domain.errors import SourceRefused
from flowservice.sources.dynamics.http import DataverseHttp
from flowservice.sources.dynamics.org import org_identity

ORG_ID = "85C20F20-603A-5E4B-8BD1-75D5F46C6E33"


class Answers:
    """The two calls ``org_identity`` makes, answered from a table (an exception is raised)."""

    def __init__(self, organizations: Any, who_am_i: Any = None) -> None:
        self.answers = {"organizations": organizations, "WhoAmI": who_am_i}
        self.asked: list[str] = []

    def url(self, path: str, params: dict[str, str] | None = None) -> str:
        return path

    def get_json(self, url: str, **_: Any) -> tuple[Any, None]:
        self.asked.append(url)
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer, None


def identity(answers: Answers, **kwargs: Any) -> dict[str, str]:
    return org_identity(cast(DataverseHttp, answers), **kwargs)


def test_the_org_row_gives_its_lower_cased_id_and_its_version_in_one_call() -> None:
    answers = Answers({"value": [{"organizationid": ORG_ID, "version": "9.2.24101.00187"}]})
    assert identity(answers) == {"orgId": ORG_ID.lower(), "orgVersion": "9.2.24101.00187"}
    assert answers.asked == ["organizations"]


def test_the_version_is_left_out_when_a_version_change_should_not_resync() -> None:
    answers = Answers({"value": [{"organizationid": ORG_ID, "version": "9.2.24101.00187"}]})
    assert identity(answers, with_version=False) == {"orgId": ORG_ID.lower()}


@pytest.mark.parametrize(
    "organizations",
    [{"value": []}, SourceRefused("Could not find a property named 'version' on type 'organization'.")],
)
def test_an_org_without_a_row_or_a_version_is_known_by_its_who_am_i_id(organizations: Any) -> None:
    answers = Answers(organizations, {"OrganizationId": ORG_ID})
    assert identity(answers) == {"orgId": ORG_ID.lower()}
    assert answers.asked == ["organizations", "WhoAmI"]


def test_any_other_refusal_fails_the_run_rather_than_guess_an_identity() -> None:
    with pytest.raises(SourceRefused, match="privilege"):
        identity(Answers(SourceRefused("The user lacks a privilege")))
    with pytest.raises(SourceRefused, match="no organization id"):
        identity(Answers({"value": []}, {}))
