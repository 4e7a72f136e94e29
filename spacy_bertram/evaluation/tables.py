"""Markdown tables: the one builder behind every table the package, the project and the benchmarks write."""
from typing import Any, Iterable, Optional, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, align: Optional[str] = None) -> str:
    """A GitHub Markdown table, one line per row.

    align: one letter per column, "l" (left) or "r" (right); by default the first
        column is left-aligned and the others, which hold numbers, right-aligned.
    """
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"align must have one 'l' or 'r' per column ({len(header)}), got {align!r}.")
    lines = [_row(header), "|" + "".join("---|" if a == "l" else "---:|" for a in align)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"A table row has {len(row)} cells for {len(header)} columns: {list(row)!r}.")
        lines.append(_row(row))
    return "\n".join(lines)


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def format_p(p: float) -> str:
    """A p-value to three decimals, "< 0.001" below that (a bootstrap's 0.000 is not zero)."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
