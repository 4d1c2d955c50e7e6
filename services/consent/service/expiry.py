"""Automatic expiry: retention periods and three years without interaction end consents, each
with its own event (which drives deletion downstream)."""

import asyncio

from services.common.logging import get_logger
from services.consent.domain.commands import ExpireConsents
from services.consent.service.consents import ConsentService, utcnow

log = get_logger(__name__)


async def expire_until_done(service: ConsentService, batch_size: int = 1000) -> int:
    total = 0
    while True:
        expired = await service.expire_due(ExpireConsents(utcnow(), batch_size))
        total += expired
        if expired < batch_size:
            return total


async def run_expiry(service: ConsentService, interval_s: float) -> None:
    while True:
        try:
            expired = await expire_until_done(service)
            if expired:
                log.info("consents expired", count=expired)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store may be restarting; the next round catches up
            log.warning("expiry sweep failed", error=str(exc))
        await asyncio.sleep(interval_s)
