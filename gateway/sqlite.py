"""SQLite databases of the gateway (registry, jobs, cases, asset index)."""

import sqlite3
from pathlib import Path


def open_db(path: Path, *schema: str) -> sqlite3.Connection:
    """Open (creating folders and tables) a database in autocommit and WAL mode.

    Args:
        path: database file.
        schema: CREATE ... IF NOT EXISTS statements to run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in schema:
        db.execute(statement)
    return db
