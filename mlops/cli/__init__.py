"""The command line: one module per command group, each owning its parser and handler."""

from mlops.cli.main import main

__all__ = ["main"]
