"""Every RPC of every service, taken from the proto descriptors (a new RPC is fuzzed without editing
this file), under random and boundary input: never INTERNAL or UNKNOWN, never a hang, and a
rejected call changes no row in any service database."""

import hashlib
import time

import pytest

from consentry.audit.v1 import audit_pb2
from consentry.consent.v1 import consent_pb2
from consentry.dsr.v1 import dsr_pb2
from consentry.keyvault.v1 import keyvault_pb2
from tests.fuzz.profile import inputs
from tests.fuzz.report import RESULTS
from tests.fuzz.values import requests

RPCS = [method for module in (consent_pb2, keyvault_pb2, dsr_pb2, audit_pb2)
        for service in module.DESCRIPTOR.services_by_name.values() for method in service.methods]

pytestmark = pytest.mark.fuzz


@pytest.mark.parametrize("method", RPCS, ids=lambda m: f"{m.containing_service.name}.{m.name}")
async def test_no_input_breaks_the_rpc(method, fuzz_prober, fuzz_worlds):
    world = await fuzz_worlds(method)
    result = RESULTS.start(method.full_name)
    began, seen = time.monotonic(), set()
    for request in inputs(requests(method.input_type, world), method.full_name):
        digest = hashlib.sha256(request.payload).digest()
        if digest in seen:  # hypothesis often draws the same bytes again: one call is enough
            continue
        seen.add(digest)
        code, problems = await fuzz_prober.probe(method, request.payload)
        result.record(code, problems, request.describe())
    result.seconds = time.monotonic() - began
    if result.found:
        pytest.fail(result.render(), pytrace=False)
