"""Form numbers `{branch}-{yyyymmdd}-{seq}`: unique per branch and business day.

Each branch-day has its own sequence aggregate. Two clerks registering at once both
load version n and both try to save version n+1; the store accepts one and the other
retries with the next number. No number is issued twice and none is skipped.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from contracts.envelope import COMPLAINTS_NAMESPACE, form_number

#: The business day of a registration is the day in China, where the branches are.
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def business_day(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_TZ).date()


class FormNumberSequence(Aggregate):
    @staticmethod
    def create_id(branch: str, day: date) -> UUID:
        return sequence_id(branch, day)

    @event("Started")
    def __init__(self, branch: str, day: date):
        self.branch = branch
        self.day = day
        self.last_seq = 0

    @event("NumberIssued")
    def _issue(self, seq: int) -> None:
        self.last_seq = seq

    def issue(self) -> str:
        self._issue(self.last_seq + 1)
        return form_number(self.branch, self.day, self.last_seq)


def sequence_id(branch: str, day: date) -> UUID:
    return uuid5(COMPLAINTS_NAMESPACE, f"form-number-sequence:{branch}:{day.isoformat()}")
