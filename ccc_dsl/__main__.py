"""`python -m ccc_dsl` is the same as `ccc`."""

from ccc_dsl.cli import main

main()
