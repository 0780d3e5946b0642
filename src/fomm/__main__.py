import sys

from fomm.cli import main

sys.exit(main())
