"""How often one address may send the portal's forms: sign-in attempts fewer than other changes, so
guessing links is slow and a flood of forms stops at the door. Counted per replica, in memory, over a
sliding minute; the address is the client's as uvicorn sees it (behind a proxy: set
CONSENTRY_PORTAL_FORWARDED_ALLOW_IPS so it is the visitor's, not the proxy's)."""

import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0
MOST_ADDRESSES = 100_000  # beyond this, addresses idle for a window are forgotten first


class RateLimits:
    def __init__(self, per_minute: dict[str, int], clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute, self._now = per_minute, clock
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def allow(self, address: str, kind: str) -> bool:
        """Counts this attempt if it is allowed; False (nothing counted) if the minute is full."""
        now = self._now()
        if len(self._seen) >= MOST_ADDRESSES:
            self._forget_idle(now)
        times = self._seen.setdefault((address, kind), deque())
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        if len(times) >= self._per_minute[kind]:
            return False
        times.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        self._seen = {key: times for key, times in self._seen.items() if times and times[-1] > now - WINDOW_S}
