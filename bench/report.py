"""Benchmark results: one JSON file and one markdown table per benchmark under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """What the numbers were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write(
    name: str,
    title: str,
    columns: list[str],
    rows: list[list],
    data: dict,
    tables: list[tuple[str, list[str], list[list]]] = (),
) -> Path:
    """Write results/<name>.json (rows + data + machine) and results/<name>.md (a table, then
    one more per entry of `tables`: (title, columns, rows))."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"title": title, "machine": machine(), "columns": columns, "rows": rows, **data}
    if tables:
        payload["tables"] = [{"title": t, "columns": c, "rows": r} for t, c, r in tables]
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        f"### {title}",
        "",
        f"Measured {payload['machine']['date']} on "
        f"{payload['machine']['cpus']} CPUs, Python {payload['machine']['python']}.",
        "",
    ]
    lines += _table(columns, rows)
    if data.get("notes"):
        lines += ["", data["notes"]]
    for extra_title, extra_columns, extra_rows in tables:
        lines += ["", f"### {extra_title}", "", *_table(extra_columns, extra_rows)]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _table(columns: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
