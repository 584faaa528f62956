"""One store's database: a SQLAlchemy engine over a SQLite file (WAL mode) or any database URL.

Statements are built with SQLAlchemy Core, so values always travel as bound parameters, and a
store runs unchanged on another backend (PostgreSQL, for gateways sharing state) given its URL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    URL,
    Column,
    Executable,
    MetaData,
    Select,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
"""Dialects whose INSERT has ON CONFLICT DO UPDATE (used by `Database.upsert`)."""


class Database:
    """The tables of one store; each call is its own autocommitted statement.

    Safe to use from several threads at once (each borrows a pooled connection).

    Args:
        location: a SQLite file (its folders are created) or a SQLAlchemy URL such as
            ``postgresql+psycopg://host/vipro``.
        metadata: the store's tables, created when missing (existing ones are left as they are).
    """

    def __init__(self, location: Path | str, metadata: MetaData):
        if isinstance(location, Path):
            location.parent.mkdir(parents=True, exist_ok=True)
            location = URL.create("sqlite", database=str(location))
        # Autocommit, as the stores always had: no transaction is ever left open across calls.
        self.engine = create_engine(location, isolation_level="AUTOCOMMIT")
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _wal)
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def execute(self, statement: Executable) -> int:
        """Run a statement; returns how many rows it changed."""
        with self.engine.connect() as connection:
            return connection.execute(statement).rowcount

    def scalar(self, statement: Executable) -> Any:
        """The first column of the first row (None when there is no row)."""
        with self.engine.connect() as connection:
            return connection.execute(statement).scalar()

    def scalars(self, statement: Executable) -> list[Any]:
        """The first column of every row."""
        with self.engine.connect() as connection:
            return list(connection.execute(statement).scalars())

    def all(self, statement: Executable, row: Callable[..., T]) -> list[T]:
        """Every row, each built as ``row(**columns)`` (a row dataclass)."""
        with self.engine.connect() as connection:
            return [row(**r._mapping) for r in connection.execute(statement)]

    def first(self, statement: Executable, row: Callable[..., T]) -> T | None:
        """The first row built as ``row(**columns)``, or None."""
        with self.engine.connect() as connection:
            found = connection.execute(statement).first()
        return None if found is None else row(**found._mapping)

    def upsert(self, table: Table, values: dict[str, Any]) -> None:
        """Insert a row, or replace the columns of the row with the same primary key.

        Raises:
            NotImplementedError: the backend is neither SQLite nor PostgreSQL.
        """
        insert = _INSERTS.get(self.engine.dialect.name)
        if insert is None:
            raise NotImplementedError(f"no upsert for {self.engine.dialect.name}")
        statement = insert(table).values(values)
        key = [c.name for c in table.primary_key]
        replace = {name: statement.excluded[name] for name in values if name not in key}
        self.execute(statement.on_conflict_do_update(index_elements=key, set_=replace))


def newest_first(table: Table, tenant: str, tiebreak: Column, limit: int, offset: int) -> Select:
    """A page of one tenant's rows, newest first (``created``, then ``tiebreak`` so pages are
    stable)."""
    return (
        select(table)
        .where(table.c.tenant == tenant)
        .order_by(table.c.created.desc(), tiebreak)
        .limit(limit)
        .offset(offset)
    )


def _wal(dbapi_connection, _record) -> None:
    # WAL lets readers go on while one writer commits (the stores are read from many threads).
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
