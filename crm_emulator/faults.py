"""The fault plan: rules that make requests fail the ways a real org fails, plus request statistics.

A rule matches a request by path prefix, table (logical or entity set name) and method; with neither path nor
table it matches every Web API request. It fires on the ``nth`` matching request and each one after it (or,
with ``probability``, on each eligible one with that chance, from a seeded generator) until it has fired
``count`` times (``null`` = no limit). Kinds:

``throttle``           429 + ``Retry-After`` with a service-protection code (``limit``: requests,
                       execution_time or concurrency — reference §6.3)
``unavailable``        503 "org is not available"
``server_error``       500 (or ``status`` 502/504)
``reset``              the response starts, then the connection is cut after ``after_bytes`` bytes of body
``slow``               the response is delayed by ``delay_ms``
``token_expiry``       401 with the bearer challenge, as if the token had expired (``revoke``: every token
                       issued so far stays invalid, so the client must get a new one)
``expired_delta_token`` a ``$deltatoken`` request gets 400 ``0x80044352``
``error``              any ``status``/``code``/``message``
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = {"throttle", "unavailable", "server_error", "reset", "slow", "token_expiry", "expired_delta_token", "error"}
ALIASES = {"429": "throttle", "503": "unavailable", "500": "server_error", "expired_token": "token_expiry"}
LIMITS = {"requests", "execution_time", "concurrency"}


class FaultSpecError(ValueError):
    pass


@dataclass
class FaultRule:
    kind: str
    id: str = ""
    path: str | None = None
    table: str | None = None
    method: str | None = None
    nth: int = 1
    probability: float | None = None
    count: int | None = 1
    retry_after: int = 5
    limit: str = "requests"
    status: int | None = None
    code: str | None = None
    message: str | None = None
    delay_ms: int = 1000
    after_bytes: int = 2048
    revoke: bool = False
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any], index: int) -> FaultRule:
        if not isinstance(raw, dict):
            raise FaultSpecError(f"rule {index}: expected an object")
        known = {f for f in cls.__dataclass_fields__ if f not in ("seen", "fired")}
        unknown = set(raw) - known
        if unknown:
            raise FaultSpecError(f"rule {index}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
        data = dict(raw)
        kind = str(data.get("kind", ""))
        data["kind"] = ALIASES.get(kind, kind)
        if data["kind"] not in KINDS:
            raise FaultSpecError(f"rule {index}: kind must be one of {sorted(KINDS)}")
        rule = cls(**data)
        if not rule.id:
            rule.id = f"{rule.kind}-{uuid.uuid4().hex[:6]}"
        if rule.nth < 1:
            raise FaultSpecError(f"rule {index}: nth must be >= 1")
        if rule.probability is not None and not 0 <= rule.probability <= 1:
            raise FaultSpecError(f"rule {index}: probability must be within [0, 1]")
        if rule.count is not None and rule.count < 1:
            raise FaultSpecError(f"rule {index}: count must be >= 1 or null for no limit")
        if rule.limit not in LIMITS:
            raise FaultSpecError(f"rule {index}: limit must be one of {sorted(LIMITS)}")
        if rule.kind == "error" and (rule.status is None or rule.code is None):
            raise FaultSpecError(f"rule {index}: an 'error' rule needs status and code")
        return rule

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def matches(self, path: str, table: str | None, entity_set: str | None, method: str, delta: bool) -> bool:
        if self.kind == "expired_delta_token" and not delta:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.path and not path.startswith(self.path):
            return False
        if self.table and self.table not in (table, entity_set):
            return False
        if not self.path and not self.table:
            return path.startswith("/api/data/")
        return True


@dataclass
class FaultPlan:
    seed: int
    rules: list[FaultRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def set(self, raw_rules: list[dict[str, Any]], append: bool = False) -> None:
        rules = [FaultRule.from_dict(r, n) for n, r in enumerate(raw_rules)]
        self.rules = (self.rules if append else []) + rules
        if not append:
            self.rng = random.Random(self.seed)

    def clear(self) -> None:
        self.rules = []

    def pick(self, path: str, table: str | None, entity_set: str | None, method: str, delta: bool) -> FaultRule | None:
        """The rule that fires for this request, if any; every matching rule counts the request."""
        chosen = None
        for rule in self.rules:
            if not rule.matches(path, table, entity_set, method, delta):
                continue
            rule.seen += 1
            if chosen is not None or rule.seen < rule.nth:
                continue
            if rule.count is not None and rule.fired >= rule.count:
                continue
            if rule.probability is not None and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            chosen = rule
        return chosen


@dataclass
class Stats:
    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    faults_fired: Counter[str] = field(default_factory=Counter)
    faults_by_kind: Counter[str] = field(default_factory=Counter)
    concurrency_rejections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    records_served: int = 0
    throttled: Counter[str] = field(default_factory=Counter)
    execution_seconds: float = 0.0

    def public(self, plan: FaultPlan) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": dict(self.by_status),
            "by_kind": dict(self.by_kind),
            "faults_fired": dict(self.faults_fired),
            "faults_by_kind": dict(self.faults_by_kind),
            "concurrency_rejections": self.concurrency_rejections,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "records_served": self.records_served,
            "throttled": dict(self.throttled),
            "execution_seconds": round(self.execution_seconds, 6),
            "rules": [r.public() for r in plan.rules],
        }
