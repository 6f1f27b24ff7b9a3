"""The one rule for names that become a path component (a registry model name, an alias).

Its own module, with no dependencies, so the registry can import it without YAML.
"""

from __future__ import annotations

import re

__all__ = ["SAFE_NAME"]

# Starts with a letter or digit, so "." and ".." can never match.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
