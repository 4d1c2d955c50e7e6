"""Every RPC of every service, admin services included, taken from the proto descriptors (a new RPC is fuzzed without editing
this file), under random and boundary input: never INTERNAL or UNKNOWN, never a hang, and a
rejected call changes no row in any service database. EventService, which every producer serves
beside its own service, is fuzzed on each of them."""

import hashlib
import time

import pytest

from consentry.audit.v1 import audit_pb2
from consentry.consent.v1 import consent_admin_pb2, consent_pb2
from consentry.dsr.v1 import dsr_admin_pb2, dsr_pb2
from consentry.events.v1 import event_service_pb2
from consentry.keyvault.v1 import keyvault_admin_pb2, keyvault_pb2
from tests.fuzz.profile import inputs
from tests.fuzz.report import RESULTS
from tests.fuzz.stack import PRODUCERS
from tests.fuzz.values import requests


def _rpcs():
    """Each RPC with the service that answers it, as (method, server), named for the report."""
    for module in (consent_pb2, consent_admin_pb2, keyvault_pb2, keyvault_admin_pb2, dsr_pb2, dsr_admin_pb2,
                   audit_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield pytest.param(method, service.full_name.split(".")[1], method.full_name,
                                   id=f"{service.name}.{method.name}")
    for service in event_service_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            for producer in PRODUCERS:
                yield pytest.param(method, producer, f"{method.full_name}@{producer}",
                                   id=f"{service.name}.{method.name}@{producer}")


RPCS = list(_rpcs())
pytestmark = pytest.mark.fuzz


@pytest.mark.parametrize(("method", "server", "name"), RPCS)
async def test_no_input_breaks_the_rpc(method, server, name, fuzz_prober, fuzz_worlds):
    world = await fuzz_worlds(method)
    result = RESULTS.start(name)
    began, seen = time.monotonic(), set()
    for request in inputs(requests(method.input_type, world), name):
        digest = hashlib.sha256(request.payload).digest()
        if digest in seen:  # hypothesis often draws the same bytes again: one call is enough
            continue
        seen.add(digest)
        code, problems = await fuzz_prober.probe(method, server, request.payload)
        result.record(code, problems, request.describe())
    result.seconds = time.monotonic() - began
    if result.found:
        pytest.fail(result.render(), pytrace=False)
