"""The dev and test CA issues one certificate per name and use: asked again (a test connecting as a
service, a second app of the same service), it gives the same files untouched, so the services
watching theirs do not take a rewrite for a renewal and restart themselves (in a test run: the
test process, by SIGTERM)."""

from services.common.pki import DevCA
from services.common.tls_files import stamp


def test_a_name_asked_for_again_gets_the_same_files_untouched(tmp_path):
    ca = DevCA(tmp_path)
    first = ca.issue_client("consent")
    written = (first.cert.read_bytes(), first.key.read_bytes(), stamp((first.cert, first.key)))

    again = ca.issue_client("consent")
    server, other = ca.issue_server(), ca.issue_client("dsr")

    assert again == first
    assert (again.cert.read_bytes(), again.key.read_bytes(), stamp((again.cert, again.key))) == written
    assert len({first.cert, server.cert, other.cert}) == 3


def test_files_removed_meanwhile_are_issued_anew(tmp_path):
    ca = DevCA(tmp_path)
    first = ca.issue_client("consent")
    first.key.unlink()

    assert ca.issue_client("consent").key.exists()
