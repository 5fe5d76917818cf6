"""The authority matrix as data (services/common/authority.yaml, §4 and §5.3): the file loads, the most
specific row applies, a limit holds to the cent, a role without a row has no authority (and is named),
and a malformed file is refused naming the problem."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.envelope import Role
from contracts.registration import Severity, Subject
from contracts.routing import APPROVER_ROLES, AuthorityLevel, HandlingTrack
from services.common.authority import (
    AUTHORITY_FILE, AuthorityMatrix, BeyondAuthority, Grant, load_authority, parse_authority,
)

CENT = Decimal("0.01")
L = AuthorityLevel


def raw() -> dict[str, Any]:
    """The file as data, a fresh copy each time (tests change it)."""
    return yaml.safe_load(AUTHORITY_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def matrix() -> AuthorityMatrix:
    return load_authority()


# --- the file loads ------------------------------------------------------------------------------


def test_the_file_loads_with_its_version_levels_and_a_chain_for_every_track(matrix: AuthorityMatrix) -> None:
    assert matrix.version == str(raw()["version"]) and matrix.version
    assert matrix.levels == (L.REGIONAL, L.SUPERVISOR, L.MARKETING_DIRECTOR, L.GENERAL_MANAGER)
    assert set(matrix.chains) == set(HandlingTrack)
    assert matrix.chains[HandlingTrack.REGIONAL] == (L.REGIONAL,)
    assert matrix.chains[HandlingTrack.HEADQUARTERS] == (L.SUPERVISOR, L.MARKETING_DIRECTOR)
    assert matrix.chains[HandlingTrack.STAFF_SUPERVISOR] == (L.SUPERVISOR,)
    assert matrix.chains[HandlingTrack.SENIOR_MANAGEMENT] == (L.MARKETING_DIRECTOR, L.GENERAL_MANAGER)
    assert (matrix.serious_adds, matrix.staff_over_authority_adds) == (L.GENERAL_MANAGER, L.MARKETING_DIRECTOR)
    assert len(matrix.grants) == len(raw()["limits"])
    assert all(g.role in APPROVER_ROLES[g.level] for g in matrix.grants)
    assert load_authority() is matrix, "read once"


def test_every_chain_is_in_level_order_and_uses_known_levels(matrix: AuthorityMatrix) -> None:
    for chain in matrix.chains.values():
        assert chain and list(chain) == sorted(chain, key=matrix.levels.index)


@pytest.mark.parametrize(("track", "serious", "staff_over", "expected"), [
    (HandlingTrack.REGIONAL, False, False, [L.REGIONAL]),
    (HandlingTrack.REGIONAL, True, False, [L.REGIONAL, L.GENERAL_MANAGER]),
    (HandlingTrack.HEADQUARTERS, False, False, [L.SUPERVISOR, L.MARKETING_DIRECTOR]),
    (HandlingTrack.STAFF_SUPERVISOR, False, False, [L.SUPERVISOR]),
    (HandlingTrack.STAFF_SUPERVISOR, False, True, [L.SUPERVISOR, L.MARKETING_DIRECTOR]),
    (HandlingTrack.STAFF_SUPERVISOR, True, True, [L.SUPERVISOR, L.MARKETING_DIRECTOR, L.GENERAL_MANAGER]),
    (HandlingTrack.SENIOR_MANAGEMENT, True, False, [L.MARKETING_DIRECTOR, L.GENERAL_MANAGER]),
    (HandlingTrack.SENIOR_MANAGEMENT, True, True, [L.MARKETING_DIRECTOR, L.GENERAL_MANAGER]),
])
def test_a_chain_adds_the_general_manager_when_serious_and_the_director_when_over_the_supervisor(
        matrix: AuthorityMatrix, track: HandlingTrack, serious: bool, staff_over: bool,
        expected: list[AuthorityLevel]) -> None:
    assert matrix.chain(track, serious, staff_over) == expected


def test_one_level_up_is_the_next_level_and_the_general_manager_is_the_top(matrix: AuthorityMatrix) -> None:
    assert [matrix.above(level) for level in matrix.levels] == [
        L.SUPERVISOR, L.MARKETING_DIRECTOR, L.GENERAL_MANAGER, None]


# --- the most specific row wins --------------------------------------------------------------------


@pytest.mark.parametrize(("region", "limit"), [("WEST", "1000.00"), ("EAST", "2000.00"), (None, "2000.00")])
def test_a_row_naming_the_region_beats_the_row_for_every_region(
        matrix: AuthorityMatrix, region: str | None, limit: str) -> None:
    grant = matrix.grant(Role.REGIONAL_MANAGER, L.REGIONAL, Subject.POLICY_SERVICE, Severity.GENERAL, region)
    assert grant is not None and grant.compensation_max == Decimal(limit)
    assert (grant.regions is not None) == (region == "WEST")


@pytest.mark.parametrize("region_row_first", [True, False])
def test_the_region_row_wins_even_when_it_is_more_generous_and_wherever_it_stands(region_row_first: bool) -> None:
    """Specificity decides, not the smaller limit, and not the order of the rows in the file."""
    data = raw()
    general = {"role": "regional_manager", "level": "regional", "subjects": ["policy_service"],
               "severities": ["general"], "compensation_max": "2000.00", "company_cost_max": "5000.00"}
    regional = dict(general, regions=["SOUTH"], compensation_max="9000.00")
    data["limits"] = [regional, general] if region_row_first else [general, regional]
    matrix = parse_authority(data)

    matrix.check(Role.REGIONAL_MANAGER, L.REGIONAL, Subject.POLICY_SERVICE, Severity.GENERAL, "SOUTH",
                 Decimal("9000.00"), None)
    with pytest.raises(BeyondAuthority, match="2000.00 CNY"):
        matrix.check(Role.REGIONAL_MANAGER, L.REGIONAL, Subject.POLICY_SERVICE, Severity.GENERAL, "EAST",
                     Decimal("2000.01"), None)


# --- limits at the edge ----------------------------------------------------------------------------


def _edges() -> list[Any]:
    """Every finite limit of the file: (row, field, limit), with a region the row applies to."""
    out = []
    for i, row in enumerate(raw()["limits"]):
        for field in ("compensation", "company_cost"):
            limit = row.get(f"{field}_max")
            if limit is not None:
                where = row.get("regions", ["any"])[0]
                out.append(pytest.param(i, field, Decimal(str(limit)),
                                        id=f"{row['role']}-{where}-{row['severities'][0]}-{field}"))
    return out


def _where(matrix: AuthorityMatrix, grant: Grant) -> tuple[Subject, Severity, str]:
    """A subject, severity and region this very row is the one applying to."""
    subject, severity = sorted(grant.subjects)[0], sorted(grant.severities)[0]
    regions = sorted(grant.regions) if grant.regions else ["EAST", "NORTH", "SOUTH", "WEST"]
    for region in regions:
        if matrix.grant(grant.role, grant.level, subject, severity, region) == grant:
            return subject, severity, region
    raise AssertionError(f"no region where row {grant} applies")


@pytest.mark.parametrize(("row", "field", "limit"), _edges())
def test_the_limit_itself_is_accepted_and_one_cent_more_is_refused_naming_the_limit(
        matrix: AuthorityMatrix, row: int, field: str, limit: Decimal) -> None:
    grant = matrix.grants[row]
    subject, severity, region = _where(matrix, grant)

    def check(amount: Decimal) -> None:
        asked = {"compensation": None, "company_cost": None} | {field: amount}
        matrix.check(grant.role, grant.level, subject, severity, region, asked["compensation"], asked["company_cost"])

    check(limit)
    check(Decimal("0.00"))
    with pytest.raises(BeyondAuthority) as refused:
        check(limit + CENT)
    error = refused.value
    assert (error.status, error.field) == (403, field)
    message = str(error)
    assert f"{limit + CENT} CNY" in message and f"{limit} CNY" in message
    assert grant.role.value in message and f"authority matrix {matrix.version}" in message
    up = matrix.above(grant.level)
    assert (f"escalate it to {up.value}" in message) if up else ("escalate" not in message)


def test_a_row_without_a_limit_grants_any_amount(matrix: AuthorityMatrix) -> None:
    matrix.check(Role.GENERAL_MANAGER, L.GENERAL_MANAGER, Subject.PRODUCT_QUALITY, Severity.SERIOUS, "WEST",
                 Decimal("999999999999.99"), Decimal("999999999999.99"))


# --- no row, no authority --------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "level"), [
    (role, level) for level in AuthorityLevel for role in Role if role not in APPROVER_ROLES[level]])
def test_a_role_that_cannot_approve_at_the_level_is_refused_naming_it(
        matrix: AuthorityMatrix, role: Role, level: AuthorityLevel) -> None:
    with pytest.raises(BeyondAuthority) as refused:
        matrix.check(role, level, Subject.POLICY_SERVICE, Severity.GENERAL, "EAST", None, None)
    assert (refused.value.status, refused.value.field) == (403, "authority_level")
    assert f"not {role.value}" in str(refused.value) and level.value in str(refused.value)


@pytest.mark.parametrize(("role", "level", "subject", "severity"), [
    (Role.REGIONAL_MANAGER, L.REGIONAL, Subject.STAFF, Severity.GENERAL),
    (Role.REGIONAL_MANAGER, L.REGIONAL, Subject.PRODUCT_QUALITY, Severity.GENERAL),
    (Role.REGIONAL_MANAGER, L.REGIONAL, Subject.POLICY_SERVICE, Severity.SERIOUS),
    (Role.SUPERVISOR, L.SUPERVISOR, Subject.PRODUCT_QUALITY, Severity.GENERAL),
    (Role.SUPERVISOR, L.SUPERVISOR, Subject.STAFF, Severity.MINOR),
])
def test_an_approver_without_a_row_for_the_case_has_no_authority_at_all(
        matrix: AuthorityMatrix, role: Role, level: AuthorityLevel, subject: Subject, severity: Severity) -> None:
    with pytest.raises(BeyondAuthority) as refused:
        matrix.check(role, level, subject, severity, "EAST", None, None)
    message = str(refused.value)
    assert refused.value.status == 403
    assert f"{role.value} has no authority over {severity.value} {subject.value} complaints in region EAST" in message
    assert f"authority matrix {matrix.version}" in message


def test_a_role_whose_rows_are_removed_is_refused_naming_it() -> None:
    data = raw()
    data["limits"] = [row for row in data["limits"] if row["role"] != "marketing_director"]
    matrix = parse_authority(data)
    with pytest.raises(BeyondAuthority, match="marketing_director has no authority") as refused:
        matrix.check(Role.MARKETING_DIRECTOR, L.MARKETING_DIRECTOR, Subject.POLICY_SERVICE, Severity.GENERAL,
                     None, None, None)
    assert "escalate it to general_manager" in str(refused.value)


# --- a malformed file is refused naming the problem ------------------------------------------------


def _without(key: str) -> Any:
    return lambda d: d.pop(key)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(d: dict[str, Any]) -> None:
        target: Any = d
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return change


MALFORMED = [
    pytest.param(_without("version"), "version", id="no-version"),
    pytest.param(_without("levels"), "levels", id="no-levels"),
    pytest.param(_without("limits"), "limits", id="no-limits"),
    pytest.param(_without("serious_adds"), "serious_adds", id="no-serious-adds"),
    pytest.param(_without("staff_over_authority_adds"), "staff_over_authority_adds", id="no-staff-adds"),
    pytest.param(_set(("levels",), ["regional", "boss"]), "boss", id="unknown-level"),
    pytest.param(lambda d: d["chains"].pop("senior_management"), "senior_management", id="track-without-chain"),
    pytest.param(_set(("chains", "regional"), ["regional", "boss"]), "boss", id="unknown-level-in-chain"),
    pytest.param(_set(("chains", "courier"), ["regional"]), "courier", id="unknown-track"),
    pytest.param(_set(("limits", 0, "role"), "supervisor"), "supervisor cannot approve at level regional",
                 id="role-not-an-approver-at-its-level"),
    pytest.param(_set(("limits", 0, "role"), "janitor"), "janitor", id="unknown-role"),
    pytest.param(_set(("limits", 0, "subjects"), ["shipping"]), "shipping", id="unknown-subject"),
    pytest.param(_set(("limits", 0, "severities"), ["catastrophic"]), "catastrophic", id="unknown-severity"),
    pytest.param(lambda d: d["limits"][0].pop("level"), "level", id="row-without-level"),
    pytest.param(_set(("serious_adds",), "chairman"), "chairman", id="unknown-serious-adds"),
]


@pytest.mark.parametrize(("change", "named"), MALFORMED)
def test_a_malformed_matrix_is_refused_naming_the_problem_and_the_source(change: Any, named: str) -> None:
    data = raw()
    change(data)
    with pytest.raises(ValueError) as refused:
        parse_authority(data, "branch-copy.yaml")
    assert str(refused.value).startswith("branch-copy.yaml: ")
    assert named in str(refused.value)


def test_an_empty_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "authority.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^authority\.yaml: "):
        load_authority(path)


def test_a_matrix_file_elsewhere_loads(tmp_path: Path) -> None:
    data = raw()
    data["version"] = "2027-01-01.1"
    path = tmp_path / "other-authority.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_authority(path).version == "2027-01-01.1"


def test_a_limit_that_is_not_an_amount_is_refused_naming_the_field() -> None:
    data = raw()
    data["limits"][0]["compensation_max"] = "lots"
    with pytest.raises(ValueError, match=r"^authority\.yaml: .*compensation_max"):
        parse_authority(data)


def test_a_negative_limit_is_refused() -> None:
    data = raw()
    data["limits"][0]["compensation_max"] = "-5.00"
    with pytest.raises(ValueError, match="compensation_max"):
        parse_authority(data)


def test_levels_must_include_every_level_the_chains_use() -> None:
    data = raw()
    data["levels"] = ["regional", "supervisor", "marketing_director"]
    with pytest.raises(ValueError, match="general_manager"):
        parse_authority(data)


def test_the_hq_regional_managers_quality_approvals_escalate_to_the_marketing_director() -> None:
    from contracts.envelope import Role
    from contracts.registration import Severity, Subject
    from contracts.routing import AuthorityLevel
    from services.common.authority import BeyondAuthority, level_of, load_authority

    matrix = load_authority()
    assert level_of(Role.HQ_REGIONAL_MANAGER) is AuthorityLevel.HQ_REGIONAL
    assert level_of(Role.BRANCH_CLERK) is None
    assert matrix.above(AuthorityLevel.HQ_REGIONAL) is AuthorityLevel.MARKETING_DIRECTOR
    assert matrix.above(AuthorityLevel.SUPERVISOR) is AuthorityLevel.MARKETING_DIRECTOR
    matrix.check(Role.HQ_REGIONAL_MANAGER, AuthorityLevel.HQ_REGIONAL, Subject.PRODUCT_QUALITY, Severity.GENERAL,
                 None, compensation=None, company_cost=Decimal("20000.00"))
    with pytest.raises(BeyondAuthority) as refused:
        matrix.check(Role.HQ_REGIONAL_MANAGER, AuthorityLevel.HQ_REGIONAL, Subject.PRODUCT_QUALITY,
                     Severity.GENERAL, None, compensation=None, company_cost=Decimal("20000.01"))
    assert refused.value.field == "company_cost"
    assert "20000.00" in str(refused.value) and "marketing_director" in str(refused.value)
