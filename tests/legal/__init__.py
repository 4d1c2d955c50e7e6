"""The law's requirements (../REQUIREMENTS.md), one test module per law (or standard, such as the
Kantara consent receipt): each test is marked with the requirement it shows and its source, and the
README's table of them is generated from these marks (`python -m tests.legal.table`), so it cannot
drift from the tests."""

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


def requirement(source: str, text: str) -> Callable[[F], F]:
    """`source`: the article, e.g. "PIPL 31"; `text`: what it asks of this software, in a sentence."""
    def mark(test: F) -> F:
        test.requirement = (source, text)
        return test
    return mark
