import sys

from aim_pick.cli import main

sys.exit(main())
