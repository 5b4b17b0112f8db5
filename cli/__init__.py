"""The `kamreview` command (console script)."""

from __future__ import annotations


def main() -> None:
    import starter

    raise SystemExit(starter.run())
