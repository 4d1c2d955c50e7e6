"""One address may send only so many sign-in attempts, other forms and page requests a minute: the rest
is refused (429, Retry-After) and changes nothing."""

from services.portal.app import PortalApp
from services.portal.web import limits as limits_module
from services.portal.web.limits import RateLimits
from tests.portal.fixtures import BACKEND, HARBOUR, portal_settings
from tests.portal.visitor import Visitor, hidden_fields, sign_in_link


def test_a_full_minute_refuses_until_its_oldest_attempt_is_a_minute_old():
    now = [0.0]
    limits = RateLimits({"sign-in": 3}, clock=lambda: now[0])

    first = [limits.allow("10.0.0.1", "sign-in") for _ in range(4)]
    other = limits.allow("10.0.0.2", "sign-in")
    now[0] = 59.9
    still = limits.allow("10.0.0.1", "sign-in")
    now[0] = 60.1
    again = limits.allow("10.0.0.1", "sign-in")

    assert first == [True, True, True, False] and other and not still and again


def test_an_ipv6_network_of_one_subscriber_counts_as_one_address():
    limits = RateLimits({"page": 2}, clock=lambda: 0.0)

    allowed = [limits.allow(f"2001:db8:1:2::{i:x}", "page") for i in range(3)]
    elsewhere = limits.allow("2001:db8:1:3::1", "page")

    assert allowed == [True, True, False] and elsewhere


def test_the_least_recently_seen_address_is_forgotten_first_when_too_many_are_remembered(monkeypatch):
    monkeypatch.setattr(limits_module, "MOST_ADDRESSES", 2)
    limits = RateLimits({"page": 1}, clock=lambda: 0.0)
    limits.allow("10.0.0.1", "page")
    limits.allow("10.0.0.2", "page")
    limits.allow("10.0.0.3", "page")  # 10.0.0.1 is forgotten

    assert limits.allow("10.0.0.1", "page") and not limits.allow("10.0.0.3", "page")


@BACKEND
async def test_sign_in_attempts_beyond_the_limit_are_refused_and_sign_no_one_in(
        run_dir, postgres, dev_ca, consent_app, dsr_app, portal_app, harbour_links, harbour):
    strict = PortalApp(portal_settings(run_dir, postgres, dev_ca, consent_app, dsr_app, sign_ins_per_minute=3,
                                       pages_per_minute=5))
    await strict.start()
    visitor = Visitor(f"http://localhost:{strict.http_port}")
    try:
        url, _ = await sign_in_link(harbour_links)
        path = "/" + url.split("/", 3)[3]
        form = hidden_fields((await visitor.get(path)).text)
        guesses = [await visitor.post(f"/{HARBOUR}/sign-in", {**form, "token": f"guess-{i}"}) for i in range(3)]
        blocked = await visitor.post(f"/{HARBOUR}/sign-in", form)  # the right link, once the minute is full
        pages = [(await visitor.get(f"/{HARBOUR}/")).status_code for _ in range(5)]  # one page was seen above
    finally:
        await visitor.close()
        await strict.stop()

    assert [g.status_code for g in guesses] == [400, 400, 400]
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "60"
    assert "Too many attempts" in blocked.text and "session" not in visitor.cookies
    assert pages == [200, 200, 200, 200, 429]


