"""Row fields of the big tables (account, contact, lead, opportunity, cr6f1_project), written as JSON bytes.

Each generator formats a row with one bytes template from values derived from the row's hash, so a run of rows
costs a few microseconds each instead of a dict plus ``orjson.dumps``. These functions *are* the data: the
values the general path serves (filters, ``$select``) are parsed back from their output. Changing one changes
what ``--seed`` generates. Each generator passes its templates through a :class:`~crm_emulator.shapes.Cut`
and writes lookups as :class:`~crm_emulator.shapes.LookupMember` members, so a ``$select`` or lookup
annotations cost nothing per row.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from datetime import timedelta

from crm_emulator import names
from crm_emulator.ids import SequentialIds
from crm_emulator.rowjson import DAYS_B, NULL, TIMES_B, id_format, texts, ts
from crm_emulator.rows import DAY0, EPOCH, SPAN_SECONDS, HeadFn, Org
from crm_emulator.shapes import Cut, LookupMember
from crm_emulator.vector import mix_all

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
THUMBNAILS = tuple(base64.b64encode(PNG_HEADER + random.Random(n).randbytes(48 + 8 * n)).decode() for n in range(8))
PROJECT_BLOCK = 25


def _slug(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())[:24] or "company"


_CF = [(w, _slug(w)) for w in names.COMPANY_FIRST]
_CS = [(w, _slug(w)) for w in names.COMPANY_SECOND]
_CX = [f" {w}" if w else "" for w in names.COMPANY_SUFFIX]


def person(h: int) -> tuple[str, str]:
    return names.FIRST_NAMES[h % len(names.FIRST_NAMES)], names.LAST_NAMES[(h >> 9) % len(names.LAST_NAMES)]


def created_at(i: int, n: int, h: int) -> int:
    """Seconds after EPOCH; creation time grows with the index like sequential GUIDs do."""
    slot = SPAN_SECONDS // max(n, 1)
    return min(SPAN_SECONDS - 1, i * SPAN_SECONDS // max(n, 1) + (h % max(slot, 1)))


def modified_at(created: int, h: int) -> int:
    if (h >> 20) & 3 == 0:
        return created
    room = SPAN_SECONDS - created
    u = ((h >> 24) & 0xFFFF) / 0x10000
    return created + int(room * u * u * u)


class CompanyNames:
    """Company names ``"<first> <second><suffix>"`` and their domain slugs, as escaped pieces a template splices."""

    def __init__(self) -> None:
        self.first, self.second = texts([w for w, _ in _CF]), texts([w for w, _ in _CS])
        self.suffix = texts(_CX)
        self.slug1, self.slug2 = [s.encode() for _, s in _CF], [s.encode() for _, s in _CS]


def picker(org: Org, table: str, member: LookupMember | None = None) -> Callable[[int], bytes]:
    """``Org.pick`` as a quoted JSON id, or as ``member``'s whole member when given."""
    scheme = org.schemes[table]
    count = org.counts[table]
    fmt = (member.to(table) if member else b"") + b'"' + id_format(scheme) + b'"'
    if not isinstance(scheme, SequentialIds):
        pair = scheme.pair

        def pick_random(x: int) -> bytes:
            return fmt % pair(((x & 0xFFFF) * ((x >> 16) & 0xFFFF) * count) >> 32)

        return pick_random
    base, hi48 = scheme.base, scheme.hi48

    def pick(x: int) -> bytes:
        j = ((x & 0xFFFF) * ((x >> 16) & 0xFFFF) * count) >> 32
        return fmt % (base + j, hi48 + j)

    return pick


def _runner(row: Callable[[int, int, int, bytes], bytes], salt: int) -> HeadFn:
    """Heads of a run: a second hash per row (``mix64(h ^ salt)``) computed lane-parallel, then ``row``."""

    def heads(idx: range, hashes: list[int], versions: list[bytes]) -> list[bytes]:
        return list(map(row, idx, hashes, mix_all([h ^ salt for h in hashes]), versions))

    return heads


# --- account -----------------------------------------------------------------------------------------------
ACCOUNT = (
    b'"name":"%s %s%s","accountnumber":%s,"emailaddress1":%s,"telephone1":%s,"websiteurl":%s,'
    b'"_primarycontactid_value":%s,"_parentaccountid_value":%s,"_originatingleadid_value":%s,'
    b'"_cr6f1_billingcustomerid_value":%s,"_masterid_value":null,%s%s"cr6f1_externalid":%s,'
    b'"createdon":"%s%s","modifiedon":"%s%s","versionnumber":%s,'
)
NO_IMAGE = b'"entityimage":null,"entityimage_url":null,"entityimage_timestamp":null,"entityimageid":null,'
NO_FILE = b'"cr6f1_contractfile":null,"cr6f1_contractfile_name":null,'
FILE = b'"cr6f1_contractfile":"%08x-%04x-4f11-9e2a-%012x","cr6f1_contractfile_name":"contract-%07d.pdf",'


def account_heads(org: Org, cut: Cut) -> HeadFn:
    """The hottest generator (the emulator's benchmark table): ``created_at``/``modified_at`` and ``ts`` are
    inlined, names and slugs come from tables."""
    n = org.counts["account"]
    span, slot = SPAN_SECONDS, max(SPAN_SECONDS // max(n, 1), 1)
    names_ = CompanyNames()
    first, second, suffix, slug1, slug2 = names_.first, names_.second, names_.suffix, names_.slug1, names_.slug2
    n1, n2, n3 = len(first), len(second), len(suffix)
    ids = org.schemes["account"]
    own = ids.pair
    mid = ids.mid.encode()
    account_id = b'"' + id_format(ids) + b'"'
    image = cut(
        b'"entityimage":"%s","entityimage_url":"/Image/download.aspx?Entity=account&Attribute=entityimage&Id=%08x'
        + mid
        + b'%012x&Timestamp=%d","entityimage_timestamp":%d,"entityimageid":"e1e1%04x'
        + mid
        + b'%012x",'
    )
    thumbnails = texts(THUMBNAILS)
    template, no_image, contract, no_file = cut(ACCOUNT), cut(NO_IMAGE), cut(FILE), cut(NO_FILE)
    primary, parent = cut.lookup("_primarycontactid_value"), cut.lookup("_parentaccountid_value")
    origin, payer = cut.lookup("_originatingleadid_value"), cut.lookup("_cr6f1_billingcustomerid_value")
    contact, lead = picker(org, "contact", primary), picker(org, "lead", origin)
    paying_contact = picker(org, "contact", payer)
    parent_account, paying_account = parent.to("account") + account_id, payer.to("account") + account_id
    days, times, day0 = DAYS_B, TIMES_B, DAY0

    def row(i: int, h: int, h2: int, version: bytes) -> bytes:
        a, b = h % n1, (h >> 8) % n2
        slug = slug1[a] + slug2[b]
        created = min(span - 1, i * span // n + h % slot)
        if (h >> 20) & 3 == 0:
            modified = created
        else:
            u = ((h >> 24) & 0xFFFF) / 0x10000
            modified = created + int((span - created) * u * u * u)
        billing = (h2 >> 8) & 7
        paying = paying_account % own(i) if billing == 0 else paying_contact(h2 >> 26) if billing == 1 else None
        if h2 & 15 == 0:
            stamp = 638000000000000000 + created * 10_000_000
            first_group, last_group = own(i)
            pictures = image % (
                thumbnails[(h2 >> 30) & 7],
                first_group,
                last_group,
                stamp,
                stamp,
                first_group & 0xFFFF,
                last_group,
            )
        else:
            pictures = no_image
        return template % (
            first[a],
            second[b],
            suffix[(h >> 16) % n3],
            b'"ACC-%07d"' % (i + 1) if h2 & 0x300 else NULL,
            b'"info@%s.com"' % slug if (h2 >> 10) & 7 else NULL,
            b'"+1-%d-555-%04d"' % (200 + (h >> 24) % 800, i % 10000) if (h2 >> 13) & 7 else NULL,
            b'"https://www.%s.com"' % slug if (h2 >> 16) & 1 else NULL,
            contact(h2 >> 17) if (h2 >> 41) & 3 else primary.null,
            parent_account % own((h2 >> 20) % i) if i and (h2 >> 43) & 7 == 0 else parent.null,
            lead(h2 >> 23) if (h2 >> 46) & 7 == 0 else origin.null,
            paying or payer.null,
            pictures,
            contract % (h2 & 0xFFFFFFFF, (h2 >> 32) & 0xFFFF, i, i + 1) if (h2 >> 4) & 3 == 0 else no_file,
            b'"%08x-%04x-4%03x-a%03x-%012x"' % (h2 >> 32, (h2 >> 16) & 0xFFFF, (h2 >> 4) & 0xFFF, h2 & 0xFFF, i)
            if (h2 >> 49) & 3
            else NULL,
            days[day0 + created // 86400],
            times[created % 86400],
            days[day0 + modified // 86400],
            times[modified % 86400],
            version,
        )

    return _runner(row, 0x5A5A)


# --- contact -----------------------------------------------------------------------------------------------
CONTACT = (
    b'"fullname":"%s %s","firstname":"%s","lastname":"%s","emailaddress1":%s,"telephone1":%s,'
    b'"_parentcustomerid_value":%s,"birthdate":%s,"createdon":"%s%s","modifiedon":"%s%s","versionnumber":%s,'
)


def _birthdays() -> list[bytes]:
    """``day(-(20 * 365 + k) * 86400)`` for every k a contact can get, as quoted JSON dates."""
    return [b'"' + (EPOCH - timedelta(days=20 * 365 + k)).date().isoformat().encode() + b'"' for k in range(45 * 365)]


def contact_heads(org: Org, cut: Cut) -> HeadFn:
    n = org.counts["contact"]
    span, slot = SPAN_SECONDS, max(SPAN_SECONDS // max(n, 1), 1)
    firsts, lasts = texts(names.FIRST_NAMES), texts(names.LAST_NAMES)
    lower_firsts = texts([f.lower() for f in names.FIRST_NAMES])
    lower_lasts = texts([w.lower() for w in names.LAST_NAMES])
    n1, n2 = len(firsts), len(lasts)
    template, customer = cut(CONTACT), cut.lookup("_parentcustomerid_value")
    account, contact = picker(org, "account", customer), picker(org, "contact", customer)
    birthdays = _birthdays()
    ages = len(birthdays)
    days, times, day0 = DAYS_B, TIMES_B, DAY0

    def row(i: int, h: int, h2: int, version: bytes) -> bytes:
        a, b = h % n1, (h >> 9) % n2
        created = min(span - 1, i * span // n + h % slot)
        if (h >> 20) & 3 == 0:
            modified = created
        else:
            u = ((h >> 24) & 0xFFFF) / 0x10000
            modified = created + int((span - created) * u * u * u)
        parent = h2 & 15
        return template % (
            firsts[a],
            lasts[b],
            firsts[a],
            lasts[b],
            b'"%s.%s%d@example.com"' % (lower_firsts[a], lower_lasts[b], i % 97) if (h2 >> 4) & 7 else NULL,
            b'"+1-%d-555-%04d"' % (200 + (h >> 30) % 800, i % 10000) if (h2 >> 7) & 3 else NULL,
            account(h2 >> 9) if parent < 13 else contact(h2 >> 9) if parent == 13 else customer.null,
            birthdays[(h2 >> 33) % ages] if (h2 >> 60) & 1 else NULL,
            days[day0 + created // 86400],
            times[created % 86400],
            days[day0 + modified // 86400],
            times[modified % 86400],
            version,
        )

    return _runner(row, 0xC0C0)


# --- lead --------------------------------------------------------------------------------------------------
LEAD = (
    b'"fullname":"%s %s","firstname":"%s","lastname":"%s","subject":"%s","companyname":%s,"emailaddress1":%s,'
    b'"_parentaccountid_value":%s,"_parentcontactid_value":%s,"createdon":"%s","modifiedon":"%s",'
    b'"versionnumber":%s,'
)


def lead_heads(org: Org, cut: Cut) -> HeadFn:
    n = org.counts["lead"]
    firsts, lasts = texts(names.FIRST_NAMES), texts(names.LAST_NAMES)
    lower_firsts = texts([f.lower() for f in names.FIRST_NAMES])
    subjects = texts(names.SUBJECTS)
    co = CompanyNames()
    template = cut(LEAD)
    parent, person = cut.lookup("_parentaccountid_value"), cut.lookup("_parentcontactid_value")
    account, contact = picker(org, "account", parent), picker(org, "contact", person)

    def row(i: int, h: int, h2: int, version: bytes) -> bytes:
        a, b = h % len(firsts), (h >> 9) % len(lasts)
        created = created_at(i, n, h)
        x = h2 >> 8
        c1, c2 = x % len(co.first), (x >> 8) % len(co.second)
        return template % (
            firsts[a],
            lasts[b],
            firsts[a],
            lasts[b],
            subjects[(h2 >> 3) % len(subjects)],
            b'"%s %s%s"' % (co.first[c1], co.second[c2], co.suffix[(x >> 16) % len(co.suffix)]) if h2 & 7 else NULL,
            b'"%s@%s%s.com"' % (lower_firsts[a], co.slug1[c1], co.slug2[c2]) if (h2 >> 40) & 3 else NULL,
            account(h2 >> 12) if (h2 >> 42) & 3 == 0 else parent.null,
            contact(h2 >> 14) if (h2 >> 44) & 3 == 0 else person.null,
            ts(created),
            ts(modified_at(created, h)),
            version,
        )

    return _runner(row, 0x1EAD)


# --- opportunity -------------------------------------------------------------------------------------------
OPPORTUNITY = (
    b'"name":"%d %s units","_customerid_value":%s,"_parentaccountid_value":%s,"_parentcontactid_value":%s,'
    b'"_originatingleadid_value":%s,"createdon":"%s","modifiedon":"%s","versionnumber":%s,'
)


def opportunity_heads(org: Org, cut: Cut) -> HeadFn:
    """The customer is the parent account or (one in eight) the parent contact: one id after two members' keys."""
    n = org.counts["opportunity"]
    words = texts(names.COMPANY_SECOND)
    template = cut(OPPORTUNITY)
    customer, parent = cut.lookup("_customerid_value"), cut.lookup("_parentaccountid_value")
    person, origin = cut.lookup("_parentcontactid_value"), cut.lookup("_originatingleadid_value")
    account, contact, lead = picker(org, "account"), picker(org, "contact"), picker(org, "lead", origin)
    customer_account, customer_contact = customer.to("account"), customer.to("contact")
    parent_account, parent_contact = parent.to("account"), person.to("contact")

    def row(i: int, h: int, h2: int, version: bytes) -> bytes:
        created = created_at(i, n, h)
        to_contact = (h2 >> 30) & 7 == 0
        account_id = b"" if to_contact else account(h2)
        contact_id = contact(h2 >> 5) if to_contact or (h2 >> 33) & 1 else b""
        return template % (
            (h2 >> 3) % 500 + 1,
            words[(h2 >> 12) % len(words)],
            customer_contact + contact_id if to_contact else customer_account + account_id,
            parent.null if to_contact else parent_account + account_id,
            parent_contact + contact_id if contact_id else person.null,
            lead(h2 >> 7) if (h2 >> 35) & 3 == 0 else origin.null,
            ts(created),
            ts(modified_at(created, h)),
            version,
        )

    return _runner(row, 0x0990)


# --- cr6f1_project -----------------------------------------------------------------------------------------
PROJECT = (
    b'"cr6f1_name":"%s %s","cr6f1_code":"PRJ-%06d","_cr6f1_accountid_value":%s,"createdon":"%s",'
    b'"modifiedon":"%s","versionnumber":%s,'
)


def project_heads(org: Org, cut: Cut) -> HeadFn:
    """Rows are grouped in blocks that share one ``modifiedon`` second; blocks are not in id order."""
    blocks = max(1, org.counts["cr6f1_project"] // PROJECT_BLOCK)
    leads = texts([w.split(" ")[0] for w, _ in _CF])
    words = texts(names.PROJECT_WORDS)
    template, owner = cut(PROJECT), cut.lookup("_cr6f1_accountid_value")
    account = picker(org, "account", owner)

    def heads(idx: range, hashes: list[int], versions: list[bytes]) -> list[bytes]:
        out = []
        for i, h, version in zip(idx, hashes, versions, strict=True):
            modified = SPAN_SECONDS - (blocks - h % blocks) * 3600
            created = max(0, modified - (h >> 20) % (400 * 86400))
            out.append(
                template
                % (
                    leads[(h >> 3) % len(leads)],
                    words[(h >> 30) % len(words)],
                    i + 1,
                    account(h >> 7) if (h >> 40) & 7 else owner.null,
                    ts(created),
                    ts(modified),
                    version,
                )
            )
        return out

    return heads
