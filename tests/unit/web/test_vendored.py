"""The vendored htmx is the file PROVENANCE.md describes, byte for byte."""

import hashlib
from pathlib import Path

from flowservice.web.pages import HERE, HTMX

HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_the_committed_htmx_file_has_the_sha256_its_provenance_records() -> None:
    vendored = HERE / "static" / HTMX
    assert hashlib.sha256(vendored.read_bytes()).hexdigest() == HTMX_SHA256
    provenance = (HERE / "static" / "vendor" / "PROVENANCE.md").read_text()
    assert HTMX_SHA256 in provenance and Path(HTMX).name in provenance and "0BSD" in provenance


def test_pages_load_no_script_or_font_from_outside_the_server() -> None:
    for template in (HERE / "templates").rglob("*.html"):
        text = template.read_text()
        assert "http://" not in text and "https://" not in text, template
        assert "<script>" not in text and " on" + "click=" not in text, template  # no inline script (CSP)
    css = (HERE / "static" / "app.css").read_text()
    assert "@font-face" not in css and "url(" not in css
