import sys

from services.identity.service import SPEC
from shared.service import main

main(SPEC, sys.argv[1:])
