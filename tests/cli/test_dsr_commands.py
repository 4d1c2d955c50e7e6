"""`consentry dsr submit-many FILE`: every row is checked before any is sent, a bad file is one clear
line naming its row, and the same file sent again, with a refused row fixed or not, records no row twice."""

import json

import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from tests.consent.builders import CONTROLLER
from tests.cli.in_process import consentry, endpoints
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


async def listed(operator, subject: str) -> list[str]:
    answer = await operator.ListRequests(pb.ListRequestsRequest(subject_id=subject, controller_id=CONTROLLER))
    return [r.request_id for r in answer.requests]


def rows(*requests: tuple[str, str, str]) -> str:
    return "type,subject,controller,jurisdiction\n" + "".join(f"{t},{s},{CONTROLLER},{j}\n" for t, s, j in requests)


async def test_a_file_of_requests_is_checked_whole_then_each_row_sent_once(dsr_app, dev_ca, operator, tmp_path,
                                                                           capsys, backend):
    run_dir = str(endpoints(tmp_path, dev_ca, "dsr", dsr_app.port, "operator"))
    first, second, third = (unique("bulk") for _ in range(3))
    path = tmp_path / "requests.csv"
    many = ["dsr", "submit-many", "--client", "operator", "--run-dir", run_dir, "--json", str(path)]

    path.write_text(rows(("access", first, "CN"), ("delete", second, "CN"), ("access", third, "CN")))
    typo = await consentry(*many)  # a type the command does not know: nothing is sent
    said_typo = capsys.readouterr()
    untouched = await listed(operator, first)
    path.write_text(rows(("access", first, "CN"), ("deletion", second, "china"), ("access", third, "CN")))
    refused = await consentry(*many)  # dsr refuses the second row: the first is recorded, the rest not
    said_refused = capsys.readouterr()
    after_refusal = [await listed(operator, p) for p in (first, second, third)]
    path.write_text(rows(("access", first, "CN"), ("deletion", second, "CN"), ("access", third, "CN")))
    fixed = await consentry(*many)
    sent = json.loads(capsys.readouterr().out)
    again = await consentry(*many)
    resent = json.loads(capsys.readouterr().out)
    after = [await listed(operator, p) for p in (first, second, third)]

    assert typo == 1 and said_typo.out == "" and len(said_typo.err.splitlines()) == 1
    assert f"{path}:3" in said_typo.err and "nothing was sent" in said_typo.err and untouched == []
    assert refused == 1 and f"{path}:3" in said_refused.err and "INVALID_ARGUMENT" in said_refused.err
    assert [len(ids) for ids in after_refusal] == [1, 0, 0]
    assert (fixed, again) == (0, 0)
    assert [r["subject"] for r in sent] == [first, second, third] and [r["line"] for r in sent] == [2, 3, 4]
    assert sent[0]["requestId"] == after_refusal[0][0]  # the row recorded before the fix, not twice
    assert [r["requestId"] for r in resent] == [r["requestId"] for r in sent]
    assert after == [[r["requestId"]] for r in sent]
