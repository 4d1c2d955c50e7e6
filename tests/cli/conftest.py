"""The commands run in the test's own process, beside services that log there too: what a command
printed is read without the services' log lines, which are the arrangement's, not the command's."""

import re

import pytest

SERVICE_LOG = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[\w+ *\] ")


class _WithoutServiceLogs:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def readouterr(self):
        captured = self._capsys.readouterr()
        return captured._replace(out=_printed(captured.out), err=_printed(captured.err))


def _printed(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not SERVICE_LOG.match(line))


@pytest.fixture
def capsys(capsys):
    """pytest's capsys, less the services' log lines."""
    return _WithoutServiceLogs(capsys)
