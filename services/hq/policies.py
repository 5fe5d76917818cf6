"""HQ's reaction to every event of every service: project it into the read model."""

from __future__ import annotations

from services.common.access import rules as access_rules
from services.hq.domain.projection import Projector


def projector() -> Projector:
    """The projector, with regions from the organisation (organisation.yaml)."""
    return Projector(access_rules().region_of)
