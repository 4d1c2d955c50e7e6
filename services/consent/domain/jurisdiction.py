"""What the law of the grant's jurisdiction asks of it: the age below which only a guardian may consent,
and whether biometrics need a signed written release. Plain Python, no I/O.

A jurisdiction is an ISO 3166 code with an optional subdivision ("CN", "DE", "US-IL"); the "EU" code
stands for a member state not named."""

from collections.abc import Mapping
from dataclasses import dataclass

from services.consent.domain import errors
from services.consent.domain.model import Actor, ActorKind, CollectionMethod

# GDPR 8(1): 16, unless a member state sets a lower age, not below 13. A member state not listed here
# takes 16, which is never below its own line.
GDPR_DEFAULT_AGE = 16
_GDPR_MEMBER_STATE_AGES = {
    "AT": 14, "BE": 13, "DE": 16, "DK": 13, "ES": 14, "FR": 15, "IE": 16, "IT": 14, "NL": 16, "PL": 16, "SE": 13,
}
_EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
# Elsewhere, unless the deployment configures the jurisdiction: the most any law above asks.
DEFAULT_AGE = 16

# BIPA 15(b)(3): a written release executed by the subject (an electronic signature is valid).
_WRITTEN_RELEASE_JURISDICTIONS = frozenset({"US-IL"})
_SIGNED = frozenset({CollectionMethod.PAPER_SIGNED, CollectionMethod.E_SIGNATURE})


@dataclass(frozen=True)
class GuardianLine:
    """Below `age` only a verified guardian may consent; `law` says which rule sets it."""

    age: int
    law: str


def _statutory(jurisdiction: str) -> GuardianLine | None:
    country = jurisdiction.split("-", 1)[0]
    if country == "CN":
        return GuardianLine(14, "PIPL 31, Face Recognition Measures Art. 7")
    if country == "US":
        return GuardianLine(13, "COPPA")
    if country == "EU":
        return GuardianLine(GDPR_DEFAULT_AGE, "GDPR 8")
    if country in _EU_MEMBER_STATES:
        return GuardianLine(_GDPR_MEMBER_STATE_AGES.get(country, GDPR_DEFAULT_AGE), f"GDPR 8 ({country})")
    return None


class GuardianAges:
    """The guardian line of each jurisdiction: the law's where it sets one, else what the deployment
    configured for that country, else DEFAULT_AGE. Configuration adds countries; it cannot move a line
    the law draws."""

    def __init__(self, configured: Mapping[str, int] | None = None) -> None:
        configured = dict(configured or {})
        for code, age in configured.items():
            if not (len(code) == 2 and code.isascii() and code.isalpha() and code.isupper()):
                raise ValueError(f"guardian age configured for '{code}': give an ISO 3166 country code")
            if _statutory(code) is not None:
                raise ValueError(f"the guardian age of {code} is set by law, not by configuration")
            if not 1 <= age <= 21:
                raise ValueError(f"guardian age of {code} must be between 1 and 21, not {age}")
        self._configured = configured

    def line(self, jurisdiction: str) -> GuardianLine:
        statutory = _statutory(jurisdiction)
        if statutory is not None:
            return statutory
        country = jurisdiction.split("-", 1)[0]
        if country in self._configured:
            return GuardianLine(self._configured[country], f"configured for {country}")
        return GuardianLine(DEFAULT_AGE, "default for jurisdictions without a configured age")


def check_grantor(ages: GuardianAges, *, jurisdiction: str, purpose_id: str, purpose_minimum: int,
                  subject_age: int, actor: Actor, collection_method: CollectionMethod, evidence_ref: str) -> None:
    """A child below the jurisdiction's line (or the purpose's, if higher) consents only through a
    verified guardian; where the law asks for a signed written release, the grant names it."""
    line = ages.line(jurisdiction)
    age, drawn_by = ((purpose_minimum, f"the minimum age of purpose '{purpose_id}'") if purpose_minimum > line.age
                     else (line.age, f"{jurisdiction}: {line.law}"))
    if subject_age < age and not (actor.kind is ActorKind.GUARDIAN and actor.guardian_id
                                  and actor.guardian_verification_ref):
        raise errors.GuardianConsentRequired(age, drawn_by, jurisdiction, purpose_minimum)
    if jurisdiction in _WRITTEN_RELEASE_JURISDICTIONS and (collection_method not in _SIGNED
                                                            or not evidence_ref.strip()):
        raise errors.WrittenReleaseRequired(jurisdiction)
