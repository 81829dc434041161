from flowservice.bootstrap import spec_catalog
from flowservice.domain import catalogue


def test_the_shipped_specs_carry_the_ids_the_code_names() -> None:
    specs = spec_catalog()
    assert specs.connection(catalogue.DYNAMICS_SPEC_ID).doc["name"] == "dynamics-online"
    assert specs.connection(catalogue.DATA_LAKE_SPEC_ID).doc["name"] == "datalake"
    assert specs.flow(catalogue.CRM_TO_AEP_FLOW_SPEC_ID)["name"] == "CRMToAEP"
