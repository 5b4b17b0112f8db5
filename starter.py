"""kamreview command line, the design card's entry: the same Typer app as the `kamreview` script.

Run `python starter.py --help` (or `kamreview --help`) for the commands; the commands live in cli/.
"""

from __future__ import annotations

from cli.app import main, run
from cli.app import worker_log as _worker_log
from cli.common import parse_pairs as _parse_pairs

__all__ = ["_parse_pairs", "_worker_log", "main", "run"]

if __name__ == "__main__":
    run()
