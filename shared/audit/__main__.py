"""`python -m shared.audit`: see `shared.audit.cli`."""

from shared.audit.cli import main

main()
