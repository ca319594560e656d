"""Several `INSERT ... VALUES (?, ...)` statements, each with its rows, as one PostgreSQL
statement (pure: builds SQL and arguments, no I/O).

A group commit written statement by statement takes a round trip for BEGIN, one per table
and one for COMMIT, and the event loop must come back for each. As one statement it takes
one: each table's rows go as arrays, one per column, into a data-modifying CTE, and the
statement is its own transaction (all of it is written, or none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The PostgreSQL type of each column these statements write, by name (TEXT otherwise).
_TYPES: Final = {
    "state_timestamp": "bigint",
    "start_time": "bigint",
    "end_time": "bigint",
    "created": "bigint",
    "timestamp": "bigint",
    "run_count": "integer",
    "level": "integer",
}


def one_statement(statements: Sequence[str]) -> str:
    """`statements` (each `INSERT INTO t (columns) VALUES (?, ...)` with an optional
    `ON CONFLICT` clause) as one statement whose arguments are `one_statement_arguments`'.

    Rows go in in the order given (the serial columns of logs and states number them so).
    A row may be given once only to a statement with `ON CONFLICT ... DO UPDATE`.
    """
    parts = []
    first = 1
    for statement in statements:
        head, _, rest = statement.partition(" VALUES (")
        conflict = rest.partition(")")[2]
        columns = head[head.index("(") + 1 : head.rindex(")")]
        names = [name.strip() for name in columns.split(",")]
        arrays = ", ".join(
            f"${first + i}::{_TYPES.get(name, 'text')}[]" for i, name in enumerate(names)
        )
        first += len(names)
        parts.append(
            f"{head} SELECT {columns} FROM unnest({arrays}) WITH ORDINALITY"
            f" AS given({columns}, ordinal) ORDER BY ordinal{conflict}"
        )
    *before, last = parts
    if not before:
        return last
    ctes = ", ".join(f"written_{i} AS ({part})" for i, part in enumerate(before))
    return f"WITH {ctes} {last}"


def one_statement_arguments(
    statements: Sequence[str], rows: Sequence[Sequence[Sequence[object]]]
) -> list[list[object]]:
    """The arguments of `one_statement(statements)` for these rows of each statement: one
    list per column."""
    arguments: list[list[object]] = []
    for statement, its_rows in zip(statements, rows, strict=True):
        columns = [list(column) for column in zip(*its_rows, strict=True)]
        arguments += columns or [[] for _ in range(statement.count("?"))]  # one per column
    return arguments
