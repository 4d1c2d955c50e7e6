"""The figures a controller publishes about the requests it answered (CCPA regulations, 11 CCR 7102:
per calendar year, requests received, complied with in whole or in part, denied, and the median days
to respond), computed from dsr's records. Public: nobody is named in them. Counted at most every few
minutes per controller, so a crowd of visitors costs dsr one listing."""

import time

from services.portal.domain.statistics import YearOfRequests, requests_per_year
from services.portal.service.ports import Platform

FRESH_S = 600.0


class PublicMetrics:
    def __init__(self, platform: Platform, clock=time.monotonic) -> None:
        self._platform, self._clock = platform, clock
        self._counted: dict[str, tuple[float, list[YearOfRequests]]] = {}

    async def years(self, controller_id: str) -> list[YearOfRequests]:
        counted = self._counted.get(controller_id)
        if counted is None or counted[0] <= self._clock():
            counted = (self._clock() + FRESH_S, requests_per_year(await self._platform.requests_of(controller_id)))
            self._counted[controller_id] = counted
        return counted[1]
