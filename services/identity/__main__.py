"""`python -m services.identity [api|worker|all|migrate|seed]`: `seed` is the development seed."""

import sys

from services.identity.service import SPEC
from shared.service import main

arguments = sys.argv[1:]
if arguments[:1] == ["seed"]:
    from services.identity.seed import main as seed

    seed(arguments[1:])
else:
    main(SPEC, arguments)
