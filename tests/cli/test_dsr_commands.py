"""`consentry dsr submit-many FILE`: every row is checked before any is sent, a bad file is one clear
line naming its row, and the same file sent again records nothing twice."""

import asyncio
import json
from pathlib import Path

import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from services.cli.main import main
from services.common.pki import DevCA
from tests.consent.builders import CONTROLLER
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], scope="session")


def endpoints(run_dir: Path, ca: DevCA, port: int) -> Path:
    operator = ca.issue_client("operator")
    (run_dir / "endpoints.json").write_text(json.dumps({
        "dsr": f"localhost:{port}", "ca": str(ca.ca.cert),
        "clients": {"operator": {"cert": str(operator.cert), "key": str(operator.key)}}}))
    return run_dir


async def consentry(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def listed(operator, subject: str) -> list[str]:
    answer = await operator.ListRequests(pb.ListRequestsRequest(subject_id=subject, controller_id=CONTROLLER))
    return [r.request_id for r in answer.requests]


async def test_a_file_of_requests_is_checked_whole_then_sent_once(dsr_app, dev_ca, operator, tmp_path, capsys,
                                                                  backend):
    run_dir = str(endpoints(tmp_path, dev_ca, dsr_app.port))
    people = [unique("bulk") for _ in range(3)]
    good, bad = tmp_path / "requests.csv", tmp_path / "typo.csv"
    good.write_text("type,subject,controller,jurisdiction\n" + "".join(
        f"{kind},{person},{CONTROLLER},CN\n" for kind, person in zip(("access", "deletion", "access"), people, strict=True)))
    bad.write_text(good.read_text().replace("deletion", "delete"))
    many = ["dsr", "submit-many", "--client", "operator", "--run-dir", run_dir, "--json"]

    refused = await consentry(*many, str(bad))
    said = capsys.readouterr()
    before = [await listed(operator, p) for p in people]
    sent = await consentry(*many, str(good))
    first = json.loads(capsys.readouterr().out)
    again = await consentry(*many, str(good))
    second = json.loads(capsys.readouterr().out)
    after = [await listed(operator, p) for p in people]

    assert refused == 1 and said.out == "" and len(said.err.splitlines()) == 1
    assert f"{bad}:3" in said.err and "nothing was sent" in said.err
    assert before == [[], [], []]
    assert (sent, again) == (0, 0)
    assert [r["subject"] for r in first] == people and [r["line"] for r in first] == [2, 3, 4]
    assert [r["requestId"] for r in second] == [r["requestId"] for r in first]  # recorded once
    assert after == [[r["requestId"]] for r in first]
