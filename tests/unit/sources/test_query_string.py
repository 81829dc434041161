"""``query_string`` escapes exactly as ``urlencode(..., quote_via=quote)`` with OData's safe characters did."""

import random
from urllib.parse import quote, urlencode

from flowservice.sources.dynamics.http import query_string

_ALPHABET = "aZ09 _.~-$,'()*:@/[]=&?#%+\"<>é€😀\\\n\t"


def _reference(params: dict[str, str]) -> str:
    return urlencode(params, quote_via=quote, safe="$,'()*:@/")


def test_random_query_options_are_encoded_exactly_as_urlencode_encodes_them() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        params = {
            "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 6))): "".join(
                rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40))
            )
            for _ in range(rng.randint(1, 3))
        }
        assert query_string(params) == _reference(params)


def test_a_filter_on_file_ids_keeps_quotes_commas_and_parentheses_and_escapes_brackets_and_spaces() -> None:
    condition = "Microsoft.Dynamics.CRM.In(PropertyName='fileattachmentid',PropertyValues=['a-1','b-2'])"
    encoded = query_string({"$select": "fileattachmentid,mimetype", "$filter": condition + " and x eq 1"})
    assert encoded == (
        "$select=fileattachmentid,mimetype&$filter=Microsoft.Dynamics.CRM.In(PropertyName%3D'fileattachmentid',"
        "PropertyValues%3D%5B'a-1','b-2'%5D)%20and%20x%20eq%201"
    )
    assert encoded == _reference({"$select": "fileattachmentid,mimetype", "$filter": condition + " and x eq 1"})
