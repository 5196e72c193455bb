"""``python -m lithops.cli``: the same as the ``lithops`` command."""

from lithops.cli import main

main(prog_name="lithops")
