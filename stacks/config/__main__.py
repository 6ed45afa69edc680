"""``python -m stacks.config``: see ``stacks.config.cli``."""

import sys

from stacks.config.cli import main

sys.exit(main(sys.argv[1:]))
