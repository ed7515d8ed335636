import sys

from services.contacts.service import SPEC
from shared.service import main

main(SPEC, sys.argv[1:])
