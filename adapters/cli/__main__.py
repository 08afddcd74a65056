"""``python -m adapters.cli``: the same as the ``policybot`` console script."""

import sys

from adapters.cli import main

sys.exit(main())
