"""Purposes and their notices as the console shows and edits them: every term a DPO registers (PIPL 17,
28-29: the purpose, the data, where and how long it is kept, the non-face alternative, the PIA), and
each notice version in every language it was published in."""

from dataclasses import dataclass
from datetime import datetime

CATEGORIES = ("face_template", "raw_image", "liveness")
STORAGE = ("device", "server")
LEGAL_BASES = ("separate_consent", "explicit_consent", "written_release")
NOTICE_LANGUAGES = ("zh-CN", "en")  # published side by side, one version for both


@dataclass(frozen=True)
class PurposeTerms:
    purpose_id: str
    controller_id: str
    name: str
    description: str
    data_categories: tuple[str, ...]
    storage_location: str
    retention_days: int
    legal_basis: str
    non_face_alternative: str
    minimum_age: int
    pia_reference: str
    recipients: tuple[str, ...]
    withdrawal_method: str


@dataclass(frozen=True)
class PublishedNotice:
    version: int
    language: str
    text: str
    content_hash: str
    material_change: bool
    published_at: datetime


@dataclass(frozen=True)
class StaffPurpose:
    terms: PurposeTerms
    current_notice_version: int
    created_at: datetime
    notices: tuple[PublishedNotice, ...] = ()

    def current_text(self, language: str) -> str:
        return next((n.text for n in self.notices
                     if n.version == self.current_notice_version and n.language == language), "")

    def versions(self) -> list[tuple[int, bool, datetime, tuple[str, ...]]]:
        """(version, material change, published at, languages) of each notice version, newest first."""
        by_version: dict[int, list[PublishedNotice]] = {}
        for notice in self.notices:
            by_version.setdefault(notice.version, []).append(notice)
        return [(v, ns[0].material_change, ns[0].published_at, tuple(sorted(n.language for n in ns)))
                for v, ns in sorted(by_version.items(), reverse=True)]
