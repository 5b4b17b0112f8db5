"""The `kamreview` command line (console script ``kamreview = "cli:main"``, also ``python -m cli``)."""

from __future__ import annotations


def main() -> None:
    from cli.app import run

    run()
