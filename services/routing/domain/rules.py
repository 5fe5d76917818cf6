"""Where a registered complaint goes next (§5.3), as a pure function of its classification."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.registration import RequestKind, Severity, Subject
from contracts.routing import Destination


@dataclass(frozen=True)
class RouteDecision:
    destination: Destination
    reason: str


_BY_SUBJECT: dict[Subject, RouteDecision] = {
    Subject.PRODUCT_QUALITY: RouteDecision(
        Destination.HQ_CLERK,
        "§5.3.3 product quality: the HQ clerk answers a simple or spurious question directly, or "
        "dispatches the responsible regional manager on site for the determination (then to quality)",
    ),
    Subject.STAFF: RouteDecision(
        Destination.SUPERVISOR,
        "§5.3.2 staff complaint: the supervisor of the person complained about investigates",
    ),
    Subject.POLICY_SERVICE: RouteDecision(
        Destination.REGIONAL_MANAGER,
        "§5.3.1 policy or service complaint: the regional manager handles it within regional "
        "authority, otherwise it goes to the marketing director",
    ),
    Subject.TRANSPORT_PACKAGING: RouteDecision(
        Destination.RESPONSIBLE_DEPARTMENT,
        "transport packaging: the responsible department answers the internal memo",
    ),
    Subject.OTHER: RouteDecision(
        Destination.HQ_CLERK, "other: the HQ clerk checks the memo and dispatches it"
    ),
}


def decide_route(subject: Subject | str, severity: Severity | str, kind: RequestKind | str) -> RouteDecision:
    if RequestKind(kind) is RequestKind.INQUIRY:
        return RouteDecision(Destination.HQ_CLERK, "inquiry: answered by the HQ clerk within 24 hours")
    if RequestKind(kind) is RequestKind.SUGGESTION:
        return RouteDecision(Destination.HQ_CLERK, "suggestion (95279): reported to the leaders through the HQ "
                                                   "clerk; the customer is promised a reply date and told whether "
                                                   "it was adopted")
    return _BY_SUBJECT[Subject(subject)]


def needs_routing(resolved_on_the_spot: str | None) -> bool:
    """A minor complaint closed on the spot at intake stays outside the full procedure."""
    return resolved_on_the_spot is None
