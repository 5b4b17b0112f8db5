"""`python -m cli`: the same command line as the `kamreview` script."""

from cli.app import run

run()
