"""The ids of the specs this server ships, named once: Adobe's documented ids, so that existing clients work.

The JSON specs in ``flowservice/specs/`` carry the same ids (``tests/unit/test_catalogue_ids.py`` checks it); code,
the client, the demo, the tests and the benchmarks name a spec through these constants.
"""

from __future__ import annotations

DYNAMICS_SPEC_ID = "38ad80fe-8b06-4938-94f4-d4ee80266b07"
"""Microsoft Dynamics (the source connection spec)."""

DATA_LAKE_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
"""Data Lake (the target connection spec: a Delta dataset)."""

CRM_TO_AEP_FLOW_SPEC_ID = "14518937-270c-4525-bdec-c2ba7cce3860"
"""CRMToAEP (the flow spec that lands a CRM table in a dataset)."""
