"""Import paths in config, resolved only inside a reviewed allow-list.

``params.yaml`` is reviewed as configuration, not as code, so an import path it names
(``model.estimator: sklearn.svm.SVC``) must never run code of its own choosing. Every
such path goes through :func:`import_allowed`: its syntax, its parts (nothing private)
and its prefix are checked against :data:`TRUSTED_IMPORTS` (the committed list
``mlops/core/trusted_imports.txt``) *before* anything is imported, and the object it names
must be defined under an allowed prefix too (not merely re-exported by an allowed
module). :func:`check_import_path` is the same check without the import, for when params
load. The caller decides what the object must be (a class of some kind, a function) and
checks it before calling it.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable
from pathlib import Path

from mlops.core.exceptions import ConfigError

__all__ = ["INSTALL_HINTS", "TRUSTED_IMPORTS", "TRUSTED_IMPORTS_FILE", "check_import_path",
           "import_allowed", "read_listed"]

TRUSTED_IMPORTS_FILE = Path(__file__).with_name("trusted_imports.txt")
# Packages of the project's optional extras: how to install them, for "cannot import".
INSTALL_HINTS = {"lightgbm": "pip install -e '.[boosting]' (the optional extra)"}

_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_PREFIX = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.?")


def read_listed(path: str | Path) -> tuple[str, ...]:
    """The names listed in ``path``, one a line, in order; ``#`` starts a comment."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(name for line in lines if (name := line.split("#", 1)[0].strip()))


def _read_prefixes(path: Path) -> tuple[str, ...]:
    prefixes = read_listed(path)
    bad = [p for p in prefixes if not _PREFIX.fullmatch(p)]
    if bad:  # a typo here would silently allow nothing, or too much
        raise ConfigError(f"{path}: {bad[0]!r} is not an import prefix (a dotted name, "
                          "ending in '.' for a whole package)", file=str(path))
    return prefixes


TRUSTED_IMPORTS: tuple[str, ...] = _read_prefixes(TRUSTED_IMPORTS_FILE)


def _allowed(name: str, prefixes: Iterable[str]) -> bool:
    """True when ``name`` is under one of ``prefixes`` (``sklearn.`` or an exact name)."""
    return any(name.startswith(p) if p.endswith(".") else name == p for p in prefixes)


def check_import_path(path: str, *, key: str, extra_prefixes: Iterable[str] = (),
                      hint: str = "") -> str:
    """Return ``path`` if :func:`import_allowed` may import it; never imports anything.

    ``key`` (``model.estimator``) names the setting in the error; ``extra_prefixes``
    widens the reviewed list for this one caller (a project's own module); ``hint`` is
    added to the error (what else the setting accepts).
    """
    prefixes = (*TRUSTED_IMPORTS, *extra_prefixes)
    tail = f"; {hint}" if hint else ""
    if not isinstance(path, str) or not _IMPORT_PATH.fullmatch(path):
        raise ConfigError(f"{key!r} is {path!r}; expected an import path such as "
                          f"package.module.Name{tail}", key=key, rule="import_path")
    private = [part for part in path.split(".") if part.startswith("_")]
    if private:
        raise ConfigError(
            f"{key!r} is {path!r}: {private[0]!r} is private (starts with '_'), and config "
            f"may name only public names; use the public import path the package documents"
            f"{tail}", key=key, rule="import_path")
    if not _allowed(path, prefixes):
        advice = f"{hint}, or name something under them" if hint else \
            "name something under them"
        raise ConfigError(
            f"{key!r} is {path!r}, outside the reviewed import prefixes "
            f"({', '.join(prefixes)}), so it was not imported (config must never run code "
            f"it names): {advice}; to allow another package, review it and add its prefix, "
            f"one a line, to {TRUSTED_IMPORTS_FILE}", key=key, rule="import_allowed",
            allow_list=str(TRUSTED_IMPORTS_FILE))
    return path


def import_allowed(path: str, *, key: str, extra_prefixes: Iterable[str] = (),
                   hint: str = "") -> object:
    """The object that the import path ``path`` names, imported only if it is allowed.

    Checked first, without importing (:func:`check_import_path`): the syntax, no private
    part, a prefix in :data:`TRUSTED_IMPORTS` or ``extra_prefixes``. Then the module is
    imported and the object must be a class or a function defined under an allowed prefix
    (so ``sklearn.something.os`` is refused). Every refusal is a :class:`ConfigError`
    naming ``key``; calling or instantiating the object is the caller's decision.
    """
    prefixes = (*TRUSTED_IMPORTS, *extra_prefixes)
    check_import_path(path, key=key, extra_prefixes=extra_prefixes, hint=hint)
    tail = f"; {hint}" if hint else ""
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        package = module_name.partition(".")[0]
        install = INSTALL_HINTS.get(package, f"install the package that provides {package!r}")
        raise ConfigError(f"{key!r} is {path!r}: cannot import {module_name!r} ({exc}); "
                          f"{install}", key=key, rule="import") from None
    found = getattr(module, attr, None)
    if found is None:
        raise ConfigError(f"{key!r} is {path!r}: {module_name!r} has no {attr!r}{tail}",
                          key=key, rule="import")
    if not (inspect.isclass(found) or inspect.isroutine(found)):
        raise ConfigError(f"{key!r} is {path!r}: that is a {type(found).__name__}, not a "
                          f"class or a function{tail}", key=key, rule="import_allowed")
    # Where it is defined, not where it was found: an allowed module may re-export others.
    origin = f"{getattr(found, '__module__', None)}.{getattr(found, '__qualname__', '')}"
    if not _allowed(origin, prefixes):
        raise ConfigError(
            f"{key!r} is {path!r}, which is {origin!r} re-exported: only what is defined "
            f"under the reviewed prefixes ({', '.join(prefixes)}) may be named{tail}",
            key=key, rule="import_allowed")
    return found
