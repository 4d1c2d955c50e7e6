"""The README's table of legal requirements is the one the tests' marks make."""

from tests.legal.table import README, rewritten, rows


def test_every_legal_test_is_marked_and_the_readme_table_is_current():
    assert rows(), "no test in tests/legal is marked with its requirement"
    readme = README.read_text()
    assert rewritten(readme) == readme, "the README's requirements table is stale: run python -m tests.legal.table"
