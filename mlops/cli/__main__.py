"""``python -m mlops.cli``: the same as the ``mlops`` console script."""

import sys

from mlops.cli.main import main

sys.exit(main())
