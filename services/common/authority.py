"""The authority matrix as data (authority.yaml): the approval chain of each track, and what each
approver may grant. Pure once loaded; `load_authority()` reads the file once."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from contracts.envelope import Role
from contracts.registration import Severity, Subject
from contracts.routing import APPROVER_ROLES, AuthorityLevel, HandlingTrack
from services.common.domain import DomainError

AUTHORITY_FILE = Path(__file__).parent / "authority.yaml"


class BeyondAuthority(DomainError):
    """An approval beyond the approver's authority: refused (403), nothing written; it must go up."""

    status = 403


@dataclass(frozen=True)
class Grant:
    role: Role
    level: AuthorityLevel
    subjects: frozenset[Subject]
    severities: frozenset[Severity]
    regions: frozenset[str] | None
    compensation_max: Decimal | None
    company_cost_max: Decimal | None

    def covers(self, role: Role, level: AuthorityLevel, subject: Subject, severity: Severity,
               region: str | None) -> bool:
        return (self.role is role and self.level is level and subject in self.subjects
                and severity in self.severities and (self.regions is None or region in self.regions))


@dataclass(frozen=True)
class AuthorityMatrix:
    version: str
    levels: tuple[AuthorityLevel, ...]
    chains: dict[HandlingTrack, tuple[AuthorityLevel, ...]]
    serious_adds: AuthorityLevel
    staff_over_authority_adds: AuthorityLevel
    grants: tuple[Grant, ...]
    #: Where a level outside the routing ladder `levels` goes up to (the HQ regional manager's
    #: quality approvals go to the marketing director).
    escalates_to: dict[AuthorityLevel, AuthorityLevel] = field(default_factory=dict)

    def chain(self, track: HandlingTrack, serious: bool, staff_over_authority: bool = False) -> list[AuthorityLevel]:
        chain = list(self.chains[HandlingTrack(track)])
        if staff_over_authority and self.staff_over_authority_adds not in chain:
            chain.append(self.staff_over_authority_adds)
        if serious and self.serious_adds not in chain:
            chain.append(self.serious_adds)
        return sorted(chain, key=self.levels.index)

    def above(self, level: AuthorityLevel) -> AuthorityLevel | None:
        if level in self.escalates_to:
            return self.escalates_to[level]
        if level not in self.levels:
            return None
        i = self.levels.index(level)
        return self.levels[i + 1] if i + 1 < len(self.levels) else None

    def grant(self, role: Role, level: AuthorityLevel, subject: Subject, severity: Severity,
              region: str | None) -> Grant | None:
        role, level, subject, severity = Role(role), AuthorityLevel(level), Subject(subject), Severity(severity)
        rows = [g for g in self.grants if g.covers(role, level, subject, severity, region)]
        rows.sort(key=lambda g: g.regions is None)  # a row naming the region first
        return rows[0] if rows else None

    def check(self, role: Role, level: AuthorityLevel, subject: Subject, severity: Severity, region: str | None,
              compensation: Decimal | None, company_cost: Decimal | None) -> None:
        """Refuse (BeyondAuthority, naming the limit) an approval the approver may not give."""
        role, level, subject, severity = Role(role), AuthorityLevel(level), Subject(subject), Severity(severity)
        if role not in APPROVER_ROLES[level]:
            raise BeyondAuthority(f"{level.value} approval is given by "
                                  f"{', '.join(sorted(r.value for r in APPROVER_ROLES[level]))}, not {role.value}",
                                  field="authority_level")
        grant = self.grant(role, level, subject, severity, region)
        where = f"{severity.value} {subject.value} complaints" + (f" in region {region}" if region else "")
        up = self.above(level)
        go_up = f"; escalate it to {up.value}" if up else ""
        if grant is None:
            raise BeyondAuthority(f"{role.value} has no authority over {where} (authority matrix "
                                  f"{self.version}){go_up}", field="authority_level")
        for field, asked, limit in (("compensation", compensation, grant.compensation_max),
                                    ("company_cost", company_cost, grant.company_cost_max)):
            if asked is not None and limit is not None and asked > limit:
                raise BeyondAuthority(
                    f"{field} {asked} CNY exceeds the {role.value} limit of {limit} CNY for {where} "
                    f"(authority matrix {self.version}){go_up}", field=field)


def _money(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{where}: {value!r} is not an amount of CNY") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{where}: {value!r} must be a non-negative amount of CNY (null: no limit)")
    return amount


def parse_authority(data: dict[str, Any], source: str = "authority.yaml") -> AuthorityMatrix:
    try:
        levels = tuple(AuthorityLevel(level) for level in data["levels"])
        chains = {HandlingTrack(track): tuple(AuthorityLevel(x) for x in chain)
                  for track, chain in data["chains"].items()}
        missing = set(HandlingTrack) - chains.keys()
        if missing:
            raise ValueError(f"no chain for tracks {sorted(t.value for t in missing)}")
        used = {level for chain in chains.values() for level in chain} | {
            AuthorityLevel(data["serious_adds"]), AuthorityLevel(data["staff_over_authority_adds"])}
        if used - set(levels):
            raise ValueError(f"levels lacks {sorted(level.value for level in used - set(levels))}, which the "
                             "chains use")
        grants = tuple(Grant(
            role=Role(row["role"]), level=AuthorityLevel(row["level"]),
            subjects=frozenset(Subject(s) for s in row["subjects"]),
            severities=frozenset(Severity(s) for s in row["severities"]),
            regions=frozenset(row["regions"]) if row.get("regions") else None,
            compensation_max=_money(row.get("compensation_max"), f"limits[{i}].compensation_max"),
            company_cost_max=_money(row.get("company_cost_max"), f"limits[{i}].company_cost_max"),
        ) for i, row in enumerate(data["limits"]))
        for grant in grants:
            if grant.role not in APPROVER_ROLES[grant.level]:
                raise ValueError(f"{grant.role.value} cannot approve at level {grant.level.value}")
        escalates_to = {AuthorityLevel(k): AuthorityLevel(v) for k, v in (data.get("escalates_to") or {}).items()}
        return AuthorityMatrix(version=str(data["version"]), levels=levels, chains=chains, escalates_to=escalates_to,
                               serious_adds=AuthorityLevel(data["serious_adds"]),
                               staff_over_authority_adds=AuthorityLevel(data["staff_over_authority_adds"]),
                               grants=grants)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{source}: {e}") from e


def level_of(role: Role) -> AuthorityLevel | None:
    """The authority level a role approves at (None: the role approves nothing)."""
    for level, roles in APPROVER_ROLES.items():
        if Role(role) in roles:
            return level
    return None


@functools.cache
def load_authority(path: Path | None = None) -> AuthorityMatrix:
    path = path or AUTHORITY_FILE
    return parse_authority(yaml.safe_load(path.read_text(encoding="utf-8")), str(path.name))
