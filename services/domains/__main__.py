import sys

from services.domains.service import SPEC
from shared.service import main

main(SPEC, sys.argv[1:])
