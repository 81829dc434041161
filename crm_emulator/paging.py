"""``$skiptoken`` paging cookies and ``$deltatoken`` values in Dataverse's formats.

A nextLink carries ``$skiptoken=<cookie pagenumber="2" pagingcookie="…" istracking="False" />`` where the inner
cookie, itself percent-encoded once more, holds the last and first keys of the page (reference §4.4):
``<cookie page="1"><accountid last="{…}" first="{…}" /></cookie>``. Ordered queries add one element per order
column before the primary key. The emulator reads back only what it wrote, so a tampered cookie is a 400.
Delta tokens are ``<version>!<MM/dd/yyyy HH:mm:ss>`` (reference §5.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape, unescape
from urllib.parse import quote, unquote

from crm_emulator.errors import EXPIRED_DELTA_MESSAGE, EXPIRED_VERSION_STAMP, DataverseError, bad_request

_OUTER = re.compile(r'^<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(True|False)" />$')
_INNER_ROOT = re.compile(r'^<cookie page="(\d+)"((?: \w+="[^"]*")*)>(.*)</cookie>$', re.DOTALL)
_ELEMENT = re.compile(r'<(\w+)((?: \w+="[^"]*")*) />')
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


@dataclass
class Cookie:
    """A decoded paging cookie: the page number just served and the key values of its last row."""

    page: int
    tracking: bool = False
    last: list[tuple[str, str | None]] = field(default_factory=list)  # (attribute, text or None for null)
    first: list[tuple[str, str | None]] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        """The ``$skiptoken`` value, before URL encoding of the query string."""
        parts = []
        for (name, last), (_, first) in zip(self.last, self.first, strict=True):
            attrs = []
            attrs.append(f'last="{escape(_brace(last), quote=True)}"' if last is not None else 'lastnull="1"')
            attrs.append(f'first="{escape(_brace(first), quote=True)}"' if first is not None else 'firstnull="1"')
            parts.append(f"<{name} {' '.join(attrs)} />")
        extra = "".join(f' {k}="{escape(v, quote=True)}"' for k, v in self.extra.items())
        inner = f'<cookie page="{self.page}"{extra}>{"".join(parts)}</cookie>'
        encoded_inner = _lower_escapes(quote(inner, safe="-_.!~*'()"))
        return (
            f'<cookie pagenumber="{self.page + 1}" pagingcookie="{encoded_inner}" '
            f'istracking="{"True" if self.tracking else "False"}" />'
        )

    @classmethod
    def decode(cls, token: str) -> Cookie:
        m = _OUTER.match(token.strip())
        if not m:
            raise bad_request("The $skiptoken value is not a valid paging cookie.")
        inner = unquote(m.group(2))
        im = _INNER_ROOT.match(inner)
        if not im or int(im.group(1)) + 1 != int(m.group(1)):
            raise bad_request("The $skiptoken paging cookie is malformed.")
        extra = {k: unescape(v) for k, v in _ATTR.findall(im.group(2))}
        cookie = cls(int(im.group(1)), m.group(3) == "True", extra=extra)
        for name, attr_text in _ELEMENT.findall(im.group(3)):
            attrs = {k: unescape(v) for k, v in _ATTR.findall(attr_text)}
            cookie.last.append((name, None if "lastnull" in attrs else _unbrace(attrs.get("last", ""))))
            cookie.first.append((name, None if "firstnull" in attrs else _unbrace(attrs.get("first", ""))))
        if not cookie.last:
            raise bad_request("The $skiptoken paging cookie has no keys.")
        return cookie


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _brace(text: str) -> str:
    """GUIDs appear upper-case in braces in Dataverse cookies: ``{D5026A4D-…}``."""
    return "{" + text.upper() + "}" if _GUID.match(text) else text


def _unbrace(text: str) -> str:
    if text.startswith("{") and text.endswith("}") and _GUID.match(text[1:-1].lower()):
        return text[1:-1].lower()
    return text


def delta_token(version: int, when: datetime) -> str:
    return f"{version}!{when.astimezone(UTC).strftime('%m/%d/%Y %H:%M:%S')}"


def parse_delta_token(token: str, current_version: int, expiry_days: int, now: datetime) -> int:
    """The version a delta token stands for; an unknown, future or expired token gets 0x80044352."""
    version_text, sep, stamp = token.partition("!")
    try:
        version = int(version_text)
        issued = datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC) if sep else None
    except ValueError:
        issued, version = None, -1
    if issued is None or version < 0 or version > current_version:
        raise DataverseError(400, EXPIRED_VERSION_STAMP, EXPIRED_DELTA_MESSAGE)
    if (now - issued).total_seconds() > expiry_days * 86400:
        raise DataverseError(400, EXPIRED_VERSION_STAMP, EXPIRED_DELTA_MESSAGE)
    return version
