import sys

from aim_engine.cli import main

sys.exit(main())
