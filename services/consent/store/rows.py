"""Mapping between PostgreSQL rows and domain objects."""

import asyncpg

from services.consent.domain.controller import Controller
from services.consent.domain.history import HistoryEntry
from services.consent.domain.model import (
    Actor, ActorKind, CollectionMethod, Consent, ConsentState, DataCategory, LegalBasis, Notice, Purpose,
    StorageLocation,
)

HISTORY_COLUMNS = (
    "consent_id, event_id, event_type, state, notice_version, notice_language, notice_hash, jurisdiction,"
    " collection_method, evidence_ref, actor_kind, guardian_id, guardian_verification_ref, expires_at, reason,"
    " occurred_at"
)

CONSENT_COLUMNS = (
    "consent_id, subject_id, purpose_id, controller_id, state, notice_version, notice_language, notice_hash,"
    " jurisdiction, collection_method, evidence_ref, actor_kind, guardian_id, guardian_verification_ref,"
    " subject_age, alternative_offered, granted_at, expires_at, last_interaction_at, updated_at"
)


def controller_from_row(row: asyncpg.Record) -> Controller:
    return Controller(row["controller_id"], row["legal_name"], row["address"], row["contact"], row["jurisdiction"],
                      row["created_at"])


def purpose_from_row(row: asyncpg.Record) -> Purpose:
    return Purpose(
        purpose_id=row["purpose_id"],
        controller_id=row["controller_id"],
        name=row["name"],
        description=row["description"],
        data_categories=tuple(DataCategory(c) for c in row["data_categories"]),
        storage_location=StorageLocation(row["storage_location"]),
        retention=row["retention"],
        legal_basis=LegalBasis(row["legal_basis"]),
        non_face_alternative=row["non_face_alternative"],
        minimum_age=row["minimum_age"],
        pia_reference=row["pia_reference"],
        recipients=tuple(row["recipients"]),
        withdrawal_method=row["withdrawal_method"],
        current_notice_version=row["current_notice_version"],
        created_at=row["created_at"],
    )


def notice_from_row(row: asyncpg.Record) -> Notice:
    return Notice(row["purpose_id"], row["version"], row["language"], row["text"], row["content_hash"],
                  row["material_change"], row["published_at"])


def consent_from_row(row: asyncpg.Record) -> Consent:
    return Consent(
        consent_id=str(row["consent_id"]),
        subject_id=row["subject_id"],
        purpose_id=row["purpose_id"],
        controller_id=row["controller_id"],
        state=ConsentState(row["state"]),
        notice_version=row["notice_version"],
        notice_language=row["notice_language"],
        notice_hash=row["notice_hash"],
        jurisdiction=row["jurisdiction"],
        collection_method=CollectionMethod(row["collection_method"]),
        evidence_ref=row["evidence_ref"],
        actor=Actor(ActorKind(row["actor_kind"]), row["guardian_id"], row["guardian_verification_ref"]),
        subject_age=row["subject_age"],
        alternative_offered=row["alternative_offered"],
        granted_at=row["granted_at"],
        expires_at=row["expires_at"],
        last_interaction_at=row["last_interaction_at"],
        updated_at=row["updated_at"],
    )


def consent_values(c: Consent) -> tuple:
    return (
        c.consent_id, c.subject_id, c.purpose_id, c.controller_id, c.state.value, c.notice_version,
        c.notice_language, c.notice_hash, c.jurisdiction, c.collection_method.value, c.evidence_ref,
        c.actor.kind.value, c.actor.guardian_id, c.actor.guardian_verification_ref, c.subject_age,
        c.alternative_offered, c.granted_at, c.expires_at, c.last_interaction_at, c.updated_at,
    )


def history_values(consent_id: str, e: HistoryEntry) -> tuple:
    """In the order of HISTORY_COLUMNS."""
    return (
        consent_id, e.event_id, e.event_type, e.state.value, e.notice_version, e.notice_language, e.notice_hash,
        e.jurisdiction, e.collection_method.value if e.collection_method else 0, e.evidence_ref,
        e.actor.kind.value, e.actor.guardian_id, e.actor.guardian_verification_ref, e.expires_at, e.reason,
        e.occurred_at,
    )


def history_from_row(row: asyncpg.Record) -> HistoryEntry:
    return HistoryEntry(
        event_id=str(row["event_id"]),
        event_type=row["event_type"],
        state=ConsentState(row["state"]),
        notice_version=row["notice_version"],
        notice_language=row["notice_language"],
        notice_hash=row["notice_hash"],
        jurisdiction=row["jurisdiction"],
        collection_method=CollectionMethod(row["collection_method"]) if row["collection_method"] else None,
        evidence_ref=row["evidence_ref"],
        actor=Actor(ActorKind(row["actor_kind"]), row["guardian_id"], row["guardian_verification_ref"]),
        expires_at=row["expires_at"],
        reason=row["reason"],
        occurred_at=row["occurred_at"],
    )
