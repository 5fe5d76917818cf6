"""Analytics' messages: the batch-defect early warning (§4.4: complaints turned into data that improves
products).

When complaints about one product model and batch reach a configured number within a window, analytics
raises one alert for that batch and window. The alert names the complaint whose registration crossed the
threshold (`complaint_id`, `form_number`: it is published on that complaint's partition) and lists every
complaint it counts. Quality raises a corrective action from it; notify tells the quality department and
the management representative.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from contracts.envelope import Envelope, FormNumber, Frozen, Rules, ServiceName, ShortStr

#: Complaints one alert lists (the rest are counted, not listed).
ALERT_COMPLAINTS_MAX = 100


class CountedComplaint(Frozen):
    """One complaint an alert counts."""

    complaint_id: UUID
    form_number: FormNumber
    received_at: AwareDatetime


class BatchDefectAlertRaised(Envelope):
    """Complaints about one model and batch reached the threshold within the window: once per batch and
    window (the window opens at the first complaint it counts and lasts `window_days`)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ANALYTICS
    event_type: Literal["BatchDefectAlertRaised"] = "BatchDefectAlertRaised"
    schema_version: Literal[1] = 1
    alert_id: UUID = Field(description="The same batch and window always give the same id")
    model: ShortStr
    batch_number: ShortStr
    threshold: int = Field(ge=2, le=1000, description="Complaints that raise an alert")
    window_days: int = Field(ge=1, le=366)
    window_start: date = Field(description="The day the first counted complaint was received (company time)")
    window_end: date = Field(description="The last day of the window")
    count: int = Field(ge=2, description="Complaints counted when the alert was raised")
    complaints: Annotated[list[CountedComplaint], Field(min_length=2, max_length=ALERT_COMPLAINTS_MAX)]
    rules_version: ShortStr = Field(description="The version of batch_alerts.yaml applied")

    @model_validator(mode="after")
    def _consistent(self) -> BatchDefectAlertRaised:
        Rules(self).require(
            self.window_end >= self.window_start, "window_end", "is before window_start",
        ).require(
            self.count >= self.threshold, "count", "an alert counts at least the threshold",
        ).require(
            len(self.complaints) == min(self.count, ALERT_COMPLAINTS_MAX), "complaints",
            "lists every counted complaint (up to the maximum)",
        ).check()
        return self
