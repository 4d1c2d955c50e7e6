"""Legal deadlines by jurisdiction (REQUIREMENTS.md, "Rights"): the first period, the one
extension the law allows with reasons given inside the first period, and where the law asks for it
(CCPA) the time by which the request's receipt is acknowledged to the person."""

from dataclasses import dataclass
from datetime import datetime, timedelta

EEA = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
       "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"}


@dataclass(frozen=True)
class Rule:
    law: str
    months: int = 0
    days: int = 0
    working_days: int = 0
    extension_months: int = 0
    extension_days: int = 0
    # Business days to confirm receipt (0: the law asks for no separate acknowledgement).
    acknowledge_working_days: int = 0

    @property
    def extendable(self) -> bool:
        return bool(self.extension_months or self.extension_days)


GDPR = Rule("GDPR Art. 12(3)", months=1, extension_months=2)
# Regs 7021(a): confirm receipt within 10 business days; (b): answer within 45 calendar days.
CCPA = Rule("CCPA 1798.130", days=45, extension_days=45, acknowledge_working_days=10)
# BIPA 15(a): destruction is due when the retention period ends; the request only records it.
BIPA_DESTRUCTION = Rule("BIPA 15(a)", days=1)


def china(working_days: int) -> Rule:
    return Rule("PIPL Art. 50 (regulator's practice)", working_days=working_days)


def rule_for(jurisdiction: str, *, retention_driven_deletion: bool, china_working_days: int = 15,
             default_days: int = 30) -> Rule:
    """Where no law sets a deadline, the operator's default applies (requests are still answered)."""
    country = jurisdiction.split("-")[0]
    if jurisdiction == "US-IL" and retention_driven_deletion:
        return BIPA_DESTRUCTION
    if country in EEA or country == "GB":
        return GDPR
    if jurisdiction == "US-CA":
        return CCPA
    if country == "CN":
        return china(china_working_days)
    return Rule("no statutory deadline (operator default)", days=default_days)


def add_months(at: datetime, months: int) -> datetime:
    """Same day of a later month, or that month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month = at.month - 1 + months
    year, month = at.year + month // 12, month % 12 + 1
    for day in (at.day, 30, 29, 28):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def add_working_days(at: datetime, days: int) -> datetime:
    """Monday to Friday; public holidays are not modelled (configure more days to allow for them)."""
    current = at
    while days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def first_deadline(rule: Rule, received_at: datetime) -> datetime:
    due = add_months(received_at, rule.months) + timedelta(days=rule.days)
    return add_working_days(due, rule.working_days)


def extended_deadline(rule: Rule, received_at: datetime) -> datetime:
    return add_months(first_deadline(rule, received_at), rule.extension_months) + timedelta(days=rule.extension_days)


def acknowledgement_deadline(rule: Rule, received_at: datetime) -> datetime | None:
    """None where the law asks for no acknowledgement apart from the answer."""
    if not rule.acknowledge_working_days:
        return None
    return add_working_days(received_at, rule.acknowledge_working_days)
