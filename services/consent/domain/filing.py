"""Filing with the provincial CAC (Face Recognition Measures Art. 15): a controller that stores the
face data of 100,000 people or more files within 30 working days. Consent counts those people per
controller and warns at a share of the threshold, before the duty arises. Plain Python, no I/O."""

from dataclasses import dataclass
from enum import Enum

FILING_THRESHOLD = 100_000
FILING_WARNING_SHARE = 0.9


class FilingState(Enum):
    BELOW_THRESHOLD = 1
    APPROACHING = 2  # at or above the warning share of the threshold
    FILING_REQUIRED = 3  # at or above the threshold: filing is due


@dataclass(frozen=True)
class FilingRule:
    threshold: int = FILING_THRESHOLD
    warning_share: float = FILING_WARNING_SHARE

    def state(self, people: int) -> FilingState:
        if people >= self.threshold:
            return FilingState.FILING_REQUIRED
        if people >= self.threshold * self.warning_share:
            return FilingState.APPROACHING
        return FilingState.BELOW_THRESHOLD


@dataclass(frozen=True)
class FilingStatus:
    controller_id: str
    people: int  # distinct people whose face data the controller stores on a server
    threshold: int
    state: FilingState


def crossed(announced: FilingState, now: FilingState) -> bool:
    """Whether `now` is a mark newly reached since the last announcement. A fall below a mark is
    recorded without an announcement, so reaching it again is a new crossing; a jump over both marks
    at once announces the higher only."""
    return now.value > announced.value
