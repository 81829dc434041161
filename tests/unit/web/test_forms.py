"""Connection forms generated from the Dynamics spec's auth schemas, and the hints of failed tests."""

import json
from pathlib import Path

from flowservice.web.forms import auth_forms, hint_for, label_of, params_from, pick

SPEC = json.loads(
    (Path(__file__).resolve().parents[3] / "flowservice/sources/dynamics/dynamics-online.json").read_text()
)


def test_both_dynamics_auth_types_become_forms_with_required_and_password_fields() -> None:
    basic, principal = auth_forms(SPEC)
    assert (basic.label, basic.spec_name) == ("Basic", "Basic Authentication for Dynamics-Online")
    assert principal.label == "Service principal"
    fields = {f.name: f for f in basic.fields}
    assert fields["password"].input_type == "password" and fields["password"].required
    assert fields["serviceUri"].label == "Service URI" and fields["serviceUri"].input_type == "text"
    assert fields["serviceUri"].description == "The service URL of your Dynamics instance"
    assert {f.name: f.secret for f in principal.fields} == {
        "serviceUri": False,
        "servicePrincipalId": False,
        "servicePrincipalKey": True,
    }


def test_a_form_is_picked_by_type_or_spec_name_and_defaults_to_the_first() -> None:
    forms = auth_forms(SPEC)
    assert pick(forms, "servicePrincipalKeyBasedAuthentication") is forms[1]
    assert pick(forms, "basic authentication for dynamics-online") is forms[0]
    assert pick(forms, None) is forms[0]


def test_submitted_params_keep_secrets_verbatim_and_trim_the_rest() -> None:
    basic = auth_forms(SPEC)[0]
    submitted = {"p.serviceUri": " https://org.crm.dynamics.com ", "p.username": "u", "p.password": " pw ", "x": "y"}
    assert params_from(basic, submitted) == {
        "serviceUri": "https://org.crm.dynamics.com",
        "username": "u",
        "password": " pw ",
    }


def test_labels_split_camel_case_and_spell_acronyms() -> None:
    assert label_of("servicePrincipalId") == "Service principal ID"
    assert label_of("apiUrl") == "API URL"


def test_failed_tests_get_a_hint_that_names_what_to_change() -> None:
    assert "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES" in (hint_for("127.0.0.1 is a loopback address") or "")
    assert "service principal" in (hint_for("AADSTS50076: MFA required") or "")
    assert "FLOWSERVICE_DYNAMICS_CA_BUNDLE" in (hint_for("certificate verify failed") or "")
    assert hint_for("something else entirely") is None
