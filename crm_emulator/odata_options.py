"""The query options besides ``$filter`` (``$select``, ``$orderby``, ``$expand``) and keys in path segments."""

from __future__ import annotations

import re

from crm_emulator.errors import bad_request

#: A path segment addressing one item: ``accounts(<guid>)``, ``EntityDefinitions(LogicalName='x')``.
KEY = re.compile(r"^([A-Za-z0-9_]+)\((.*)\)$")


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def parse_select(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    return [s.strip() for s in text.split(",") if s.strip()]


def parse_orderby(text: str | None) -> list[tuple[str, bool]]:
    """[(property, descending)]."""
    if not text:
        return []
    out = []
    for part in split_top(text):
        bits = part.split()
        if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1] not in ("asc", "desc")):
            raise bad_request(f"Syntax error in $orderby: '{part}'.")
        out.append((bits[0], len(bits) == 2 and bits[1] == "desc"))
    return out


def parse_expand(text: str | None) -> list[tuple[str, dict[str, str]]]:
    """[(navigation property, {nested option: value})] from ``a($select=x;$filter=y),b``."""
    if not text:
        return []
    out = []
    for part in split_top(text):
        name, paren, rest = part.partition("(")
        options: dict[str, str] = {}
        if paren:
            if not rest.endswith(")"):
                raise bad_request(f"Syntax error in $expand: '{part}'.")
            for opt in split_top(rest[:-1], ";"):
                key, eq, value = opt.partition("=")
                if not eq:
                    raise bad_request(f"Syntax error in $expand option '{opt}'.")
                options[key.strip()] = value.strip()
        out.append((name.strip(), options))
    return out
