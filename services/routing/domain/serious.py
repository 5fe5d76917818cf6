"""Who is called in at once for a serious complaint (`services/routing/serious.yaml`), as data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from contracts.envelope import Role
from contracts.registration import Channel, SeriousReason, Severity, Subject

DEFAULT_SERIOUS = Path(__file__).resolve().parent.parent / "serious.yaml"


@dataclass(frozen=True)
class SeriousRules:
    version: str
    serious_channels: frozenset[Channel]
    departments: dict[Subject, tuple[str, ...]]
    notified_roles: tuple[Role, ...]

    def applies(self, severity: Severity | str, channel: Channel | str) -> bool:
        return Severity(severity) is Severity.SERIOUS or Channel(channel) in self.serious_channels

    def reasons(self, given: list[Any], channel: Channel | str) -> list[SeriousReason]:
        """The reasons recorded at intake, or the one the channel implies, or 'other serious harm'."""
        reasons = [SeriousReason(r) for r in given]
        if not reasons and Channel(channel) is Channel.EXTERNAL_BODY:
            reasons = [SeriousReason.CONSUMER_ASSOCIATION]  # the commonest external body; intake may say better
        return reasons or [SeriousReason.OTHER_SERIOUS_HARM]


def parse_serious(data: dict[str, Any]) -> SeriousRules:
    try:
        departments = {Subject(k): tuple(str(d) for d in v) for k, v in data["departments"].items()}
        roles = tuple(Role(r) for r in data["notified_roles"])
        channels = frozenset(Channel(c) for c in data.get("serious_channels") or ())
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"serious.yaml: {e}") from None
    missing = set(Subject) - set(departments)
    if missing or not all(departments.values()):
        raise ValueError(f"serious.yaml: every subject names departments ({', '.join(sorted(missing))} missing)")
    if Role.GENERAL_MANAGER not in roles:
        raise ValueError("serious.yaml: notified_roles must include general_manager")
    return SeriousRules(str(data["version"]), channels, departments, roles)


def load_serious(path: Path | None = None) -> SeriousRules:
    with (path or DEFAULT_SERIOUS).open(encoding="utf-8") as f:
        return parse_serious(yaml.safe_load(f))
