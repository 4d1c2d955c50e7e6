"""The portal section: signed-in people browsing "my consents" and "my requests", against a static asset
of the same web server in the same run.

The platform runs as `consentry dev up` runs it (the dsr section's stack: PostgreSQL, Tansu, OpenBao,
consent, keyvault, audit, dsr and two face gates), plus the portal process with dev up's settings.
Before the clock starts, each person has a consent to the dev purpose and two access requests, and is
signed in to the portal by a link asked over gRPC and followed over HTTP, as a browser does. In a
round, `concurrency` people (each their own session) ask for the same page again and again: the
static stylesheet (the web server alone), their consents (one ListPurposes, a GetPurpose per purpose
and a ListConsents at consent) and their requests (one ListRequests at dsr). The three alternate round
by round, so a drift in the machine's load hits all alike; pages per second and p95 are reported with
the static page's as the baseline.
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import asdict, dataclass, replace
from http.cookies import SimpleCookie

import grpc
import httpx

from bench.common.platform import DEMO_PURPOSE, free_port, portal_env, seed_demo_consents, seed_demo_purpose
from bench.common.processes import GrpcServerProcess
from bench.common.report import Scenario, section_table
from bench.common.rounds import Groups, run_interleaved
from bench.common.section import Results, Section
from bench.common.stack import Stack, service_env
from bench.dsr import stack as dsr_stack
from bench.portal.calls import RoundSpec, run_round
from consentry.dsr.v1 import dsr_pb2, dsr_pb2_grpc
from consentry.portal.v1 import portal_pb2, portal_pb2_grpc

NAME = "portal"
CONTROLLER = "acme-campus"  # the dev platform's controller, whose purpose seed_demo_purpose registers


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3  # of each page, alternating
    duration_s: float = 10.0
    warmup_s: float = 2.0
    people: int = 200  # signed in before the rounds, each with a session of their own
    concurrency: int = 200  # people asking at once, one page at a time each
    requests_per_person: int = 2


QUICK = Sizes(rounds=2, duration_s=4.0, warmup_s=1.0)


def _grpc(port: int, tls: tuple) -> grpc.aio.Channel:
    ca, cert, key = (p.read_bytes() for p in tls)
    return grpc.aio.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(ca, key, cert))


async def _people(d: dsr_stack.DsrStack, portal_port: int, base_url: str, sizes: Sizes) -> list[str]:
    """Seeds the people and signs each in; their session cookies."""
    ca, cert, key = d.admin
    endpoints = {"consent": f"localhost:{d.servers['consent'].port}", "ca": str(ca),
                 "clients": {"admin": {"cert": str(cert), "key": str(key)}}}
    await seed_demo_purpose(endpoints, DEMO_PURPOSE)
    subjects = [f"portal-person-{i:04d}" for i in range(sizes.people)]
    await asyncio.gather(*(seed_demo_consents(endpoints, DEMO_PURPOSE, subjects[i::16]) for i in range(16)))
    async with _grpc(d.servers["dsr"].port, d.admin) as dsr, _grpc(portal_port, d.admin) as portal, \
            httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        requests, links = dsr_pb2_grpc.DsrServiceStub(dsr), portal_pb2_grpc.PortalServiceStub(portal)
        for subject in subjects:
            for n in range(sizes.requests_per_person):
                await requests.SubmitRequest(dsr_pb2.SubmitRequestRequest(
                    type=dsr_pb2.REQUEST_TYPE_ACCESS, subject_id=subject, jurisdiction="CN",
                    evidence=dsr_pb2.IdentityEvidence(method="bench", reference="bench"),
                    idempotency_key=f"bench-{subject}-{n}", controller_id=CONTROLLER))
        return [await _sign_in(http, links, subject) for subject in subjects]


async def _sign_in(http: httpx.AsyncClient, links: portal_pb2_grpc.PortalServiceStub, subject: str) -> str:
    url = (await links.CreateSignInLink(portal_pb2.CreateSignInLinkRequest(
        subject_id=subject, jurisdiction="CN", controller_id=CONTROLLER))).url
    path = "/" + url.split("/", 3)[3]
    page = await http.get(path)
    visitor = SimpleCookie(page.headers["set-cookie"])["visitor"].value
    fields = dict(re.findall(r'name="(csrf|token)" value="([^"]*)"', page.text))
    answer = await http.post(path.rsplit("/sign-in/", 1)[0] + "/sign-in", data=fields,
                             headers={"cookie": f"visitor={visitor}"})
    cookies = [SimpleCookie(h) for h in answer.headers.get_list("set-cookie")]
    return next(c["session"].value for c in cookies if "session" in c)


def run(s: Stack, sizes: Sizes) -> Results:
    d = dsr_stack.start(s, name="portal-stack")
    grpc_port, http_port = free_port(), free_port()
    env = {**portal_env(d.dev, grpc_port, http_port, {"consent": d.servers["consent"].port,
                                                       "dsr": d.servers["dsr"].port}),
           # every person signs in and browses from here, one address
           "CONSENTRY_PORTAL_SIGN_INS_PER_MINUTE": str(10 * sizes.people),
           "CONSENTRY_PORTAL_PAGES_PER_MINUTE": "100000000"}
    print("portal: starting the portal ...", flush=True)
    portal = GrpcServerProcess(s.run_dir / "portal-stack" / "portal", "portal", ["services.portal"], d.admin,
                               service_env("portal", env, s.event_loop), grpc_port)
    s.on_exit(portal.stop)
    portal.start()
    s.pids["portal"] = portal.pid
    base_url = f"http://127.0.0.1:{http_port}"
    print(f"portal: signing in {sizes.people} people ...", flush=True)
    sessions = tuple(asyncio.run(_people(d, grpc_port, base_url, sizes)))

    spec = RoundSpec("static", base_url, "/static/portal.css", ".card", sessions, concurrency=sizes.concurrency,
                     duration_s=sizes.duration_s, warmup_s=sizes.warmup_s)
    static = Scenario("static asset (portal.css)", "GET /static/portal.css", "portal", section=NAME, unit="pages",
                      note="the same web server, no session, no platform call")
    pages = [(Scenario(f"my {page}", f"GET /{CONTROLLER}/{page}", "portal", static.name, section=NAME, unit="pages",
                       note=note), replace(spec, scenario=page, path=f"/{CONTROLLER}/{page}", expect=expect))
             for page, expect, note in (
                 ("consents", "Campus gate access by face", "session, ListPurposes, GetPurpose, ListConsents"),
                 ("requests", "查阅我的数据", f"session, ListRequests ({sizes.requests_per_person} requests each)"))]
    groups: Groups = [(static, spec), *pages]
    print(f"portal: {sizes.rounds} rounds of {sizes.warmup_s:g}s warm-up + {sizes.duration_s:g}s,"
          f" {sizes.concurrency} sessions at once", flush=True)
    run_interleaved(s, groups, sizes.rounds, run_round)
    for scenario, _ in groups:
        scenario.extra_medians = ("p95_ms",)
    return Results([scenario for scenario, _ in groups], {}, {"portal": asdict(sizes)})


SECTION = Section(NAME, Sizes(), QUICK, run, functools.partial(section_table, base="static"))
