"""Running SQL a person typed (`seamline query`) so that it can only read the store.

Opening the database read-only stops writes to it, but DuckDB SQL can still reach beyond it:
ATTACH another file and write there, COPY ... TO or EXPORT DATABASE to any path, read any file
with read_csv/read_text/glob (the pseudonym key, /etc), INSTALL/LOAD extensions from the
network, or SET the memory limit away. So before the statement runs, the connection turns off
file and network access and then locks its configuration (neither can be undone on that
connection), and only one SELECT (or EXPLAIN of one) is accepted.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from seamline.store.base import StoreError

_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class RefusedSQL(StoreError):
    """The SQL is not a single read-only query."""


def check_read_only_sql(sql: str) -> None:
    """Raise RefusedSQL unless `sql` is exactly one SELECT (or EXPLAIN) statement."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise RefusedSQL(f"cannot parse the SQL: {exc}") from None
    if len(statements) != 1:
        raise RefusedSQL(f"give exactly one SELECT statement, not {len(statements)}")
    kind = statements[0].type
    if kind not in _ALLOWED:
        name = kind.name if hasattr(kind, "name") else str(kind)
        raise RefusedSQL(f"only SELECT (or EXPLAIN) runs here; {name} statements are refused")


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file system or extension access and no further configuration changes on `con`'s database."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def run_read_only_sql(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """Check and run user SQL on a connection that `lock_down` has been applied to first."""
    check_read_only_sql(sql)
    lock_down(con)
    return con.sql(sql).to_arrow_table()
