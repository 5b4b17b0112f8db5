"""Screenshots of every page of every role, in Chinese and English, at 1280 px and 390 px, for people to look at.

    python -m tests.web.screenshots OUTDIR

It runs the accessibility walk (tests/web/test_accessibility.py: its own PostgreSQL, Temporal and
live server, one cycle taken from open to released) with ``KR_SHOTS=OUTDIR``, which saves a
full-page PNG per visit as ``<role>-<page>-<lang>-<width>.png``. The exit status is the test's: a
serious accessibility violation is reported, but the screenshots are saved all the same.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TEST = Path(__file__).resolve().parent / "test_accessibility.py"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["KR_SHOTS"] = str(out)
    code = pytest.main([f"{TEST}::test_every_page_of_every_role_has_no_serious_accessibility_violation",
                        "-q", "-p", "no:cacheprovider", "-p", "no:logging"])
    print(f"{len(list(out.glob('*.png')))} screenshots in {out}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
