import sys

from aim_engine.cli import main

if __name__ == "__main__":  # build's worker processes are spawned: they must not run the command again
    sys.exit(main())
