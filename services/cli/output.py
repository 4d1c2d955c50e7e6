"""How the command shows an answer: by default as tables a person reads (Chinese as text, paged when
longer than the terminal); with --json as the one JSON document a program parses."""

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document, for programs")


def plain(answer) -> object:
    """An answer as JSON-able data: a protobuf message as its fields (proto names), anything else as is."""
    if isinstance(answer, Message):
        return json_format.MessageToDict(answer, preserving_proto_field_name=True)
    return answer


def show(answer, as_json: bool, title: str = "") -> None:
    data = plain(answer)
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    # Values are data, never markup; into a file or a pipe, a line is as long as its values.
    console = _Console(soft_wrap=False, markup=False, emoji=False, highlight=False)
    if not console.is_terminal:
        console.width = 100_000
    view = _view(data, title)
    if console.is_terminal and len(console.render_lines(view, pad=False)) > console.height:
        with console.pager(styles=True):
            console.print(view)
    else:
        console.print(view)



class _Console(Console):
    def on_broken_pipe(self) -> None:
        raise BrokenPipeError  # the reader left (`| head`): main() answers it as for any other output


def _view(data, title: str) -> RenderableType:
    if isinstance(data, Mapping):
        return _record(data, title)
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        return _rows(data, title)
    if isinstance(data, list):
        return Text("\n".join(_cell(item) for item in data) or "(none)")
    return Text(_cell(data))


def _record(record: Mapping, title: str) -> RenderableType:
    """Scalars (nested records flattened as a.b) in one two-column table; every list of records as a
    table of its own below it."""
    fields = Table(title=title or None, show_header=False, title_justify="left")
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    lists = []
    for name, value in _flat(record):
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            lists.append(_rows(value, name))
        else:
            fields.add_row(name, _cell(value))
    return Group(fields, *lists) if lists else fields


def _rows(rows: list, title: str) -> Table:
    columns: dict[str, None] = {}
    flat_rows = [dict(_flat(row)) for row in rows]
    for row in flat_rows:
        columns.update(dict.fromkeys(row))
    table = Table(title=f"{title} ({len(rows)})" if title else None, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in flat_rows:
        table.add_row(*(_cell(row.get(column, "")) for column in columns))
    return table


def _flat(record: Mapping, prefix: str = ""):
    for name, value in record.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            yield from _flat(value, key + ".")
        else:
            yield key, value


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: ""}[value]
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A bar on stderr for long work, told `(done, total)` as it goes; nothing where stderr is no
    terminal (a log, a pipe), so what a program reads is never mixed with it."""
    console = Console(file=sys.stderr)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, disable=not console.is_terminal, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def waiting(description: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while waiting for something to settle, told what it is at; nothing where
    stderr is no terminal."""
    console = Console(file=sys.stderr)
    if not console.is_terminal:
        yield lambda _state: None
        return
    with console.status(description) as status:
        yield lambda state: status.update(f"{description}: {state}")
