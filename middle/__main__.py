"""`python -m middle` is the `middle` console script."""

from middle.cli import main

main()
