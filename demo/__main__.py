"""Entry point: python -m demo [--rows N] [--workdir .demo]."""

import sys

from demo.run import main

sys.exit(main())
