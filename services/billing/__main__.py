import sys

from services.billing.service import SPEC
from shared.service import main

main(SPEC, sys.argv[1:])
