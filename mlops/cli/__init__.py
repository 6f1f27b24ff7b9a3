"""The command line: one module per command group, each owning its parsers and handlers.

``main`` is the ``mlops`` console script (``mlops.cli:main``); :mod:`mlops.cli.main` builds
the root parser from the modules ``init``, ``run``, ``validate``, ``registry``,
``reproduce``, ``deploy``, ``monitor``, ``space``, ``report`` and ``loop``. ``python -m
mlops.cli`` runs it too.
"""

from mlops.cli.main import main

__all__ = ["main"]
