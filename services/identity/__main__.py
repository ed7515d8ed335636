"""`python -m services.identity [api|worker|all|migrate|seed|rotate-key|retire-keys]`.

`seed` is the development seed; `rotate-key` and `retire-keys` manage the token signing keys.
"""

import sys

from services.identity.service import SPEC
from shared.service import main

arguments = sys.argv[1:]
if arguments[:1] == ["seed"]:
    from services.identity.seed import main as seed

    seed(arguments[1:])
elif arguments[:1] in (["rotate-key"], ["retire-keys"]):
    from services.identity.key_rotation import main as keys

    keys(arguments)
else:
    main(SPEC, arguments)
