from flowservice.bootstrap import spec_catalog
from flowservice.domain import catalogue


def test_the_shipped_specs_carry_the_ids_the_code_names() -> None:
    specs = spec_catalog()
    assert specs.connection(catalogue.DYNAMICS_SPEC_ID).doc["name"] == "dynamics-online"
    assert specs.connection(catalogue.DATA_LAKE_SPEC_ID).doc["name"] == "datalake"
    assert specs.flow(catalogue.CRM_TO_AEP_FLOW_SPEC_ID)["name"] == "CRMToAEP"


def test_the_catalogue_keeps_adobes_published_ids() -> None:
    # existing clients send these ids: a change here breaks them
    assert catalogue.DYNAMICS_SPEC_ID == "38ad80fe-8b06-4938-94f4-d4ee80266b07"
    assert catalogue.DATA_LAKE_SPEC_ID == "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
    assert catalogue.CRM_TO_AEP_FLOW_SPEC_ID == "14518937-270c-4525-bdec-c2ba7cce3860"
