"""Plain-text tables for the CLI: every column as wide as its widest cell."""

from __future__ import annotations


def format_table(head: tuple[str, ...], body: list[tuple[str, ...]], numeric: set[int] = frozenset()) -> list[str]:
    """Columns as wide as their widest cell; numbers right-aligned."""
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]

    def fmt(row) -> str:
        cells = [str(c).rjust(w) if i in numeric else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    return [fmt(head)] + [fmt(r) for r in body]


def topic_rows(sizes: dict[str, int]) -> list[str]:
    """`claimflow topics list`: topic and record count, aligned whatever the name length."""
    return format_table(("TOPIC", "RECORDS"), [(name, str(n)) for name, n in sizes.items()], numeric={1})
