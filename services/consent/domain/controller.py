"""A controller (PIPL: personal information handler): who decides on a purpose and answers for it. Every
purpose belongs to one registered controller, and every receipt names it with its contact point."""

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Controller:
    controller_id: str
    legal_name: str
    address: str
    # E-mail address or telephone number of the DPO or contact point.
    contact: str
    # ISO 3166, as grants: "CN", "EU", "US-IL"; empty for a controller only known by its purposes' id.
    jurisdiction: str
    created_at: datetime | None = None

    def same_as(self, other: "Controller") -> bool:
        """The same registration, whenever it was made."""
        return replace(self, created_at=None) == replace(other, created_at=None)

    @property
    def contact_is_email(self) -> bool:
        return "@" in self.contact
