"""How often one address may ask the portal: sign-in attempts fewer than other forms, forms fewer than
pages, so guessing links is slow and a flood stops at the door. Counted per replica, in memory, over a
sliding minute. An IPv6 address counts by its /64 (one subscriber's network, whose hosts pick any
address in it at will). The address is the client's as uvicorn sees it (behind a proxy: set
CONSENTRY_PORTAL_FORWARDED_ALLOW_IPS so it is the visitor's, not the proxy's)."""

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_S = 60.0
MOST_ADDRESSES = 100_000  # remembered at once; beyond, the least recently seen is forgotten


def _counted_as(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


class RateLimits:
    def __init__(self, per_minute: dict[str, int], clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute, self._now = per_minute, clock
        self._seen: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def allow(self, address: str, kind: str) -> bool:
        """Counts this attempt if it is allowed; False (nothing counted) if the minute is full."""
        now, key = self._now(), (_counted_as(address), kind)
        times = self._seen.pop(key, None) or deque()
        self._seen[key] = times  # now the most recently seen
        if len(self._seen) > MOST_ADDRESSES:
            self._seen.popitem(last=False)
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        if len(times) >= self._per_minute[kind]:
            return False
        times.append(now)
        return True
