"""A model's own feature code: the training notebook's ``add_features`` cell, kept as text.

A data scientist writes ``def add_features(frame) -> frame`` in the training notebook, in
the cell marked ``#| features``. That cell's source is the model's feature code: training
saves it as ``features.py`` beside ``model.skops``, and the fitted pipeline's first step
(:class:`mlops.stages.derived.DerivedFeatures`) names it by the SHA-256 of its text, not by
an import path. Whoever loads the model registers the ``features.py`` stored with it first
(:func:`register_source`), so serving computes exactly the features that training did, from
the raw columns of a request, and a version keeps the code it was trained with.

Trust: the only code run is text that was stored, hash-checked, with the version (reviewed
in the pull request with the notebook); a model file can name nothing but a module of this
hash-named kind, and nothing is ever imported by a name read from a file or from config.
"""

from __future__ import annotations

import hashlib
import inspect
import linecache
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.core.exceptions import ConfigError, IntegrityError

__all__ = ["FEATURE_FILE", "FEATURE_FUNCTION", "MARK", "MODULE_PREFIX", "beside", "cell_source",
           "feature_function", "module_name", "register_file", "register_source", "source_of",
           "used_module"]

FEATURE_FILE = "features.py"  # beside model.skops: in a run folder and in a version
FEATURE_FUNCTION = "add_features"
MARK = "#| features"  # the first line of the notebook cell that holds the feature code
MODULE_PREFIX = "mlops_features_"


def module_name(source: str) -> str:
    """The module name of feature code ``source``: named by its content, never by a path."""
    return MODULE_PREFIX + hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def cell_source(function: Callable[..., Any]) -> str:
    """The whole source of the notebook cell (or file) that defines ``function``.

    IPython keeps each executed cell's text in :mod:`linecache`, so this is the cell as it
    ran, saved or not. The cell must start with :data:`MARK` and define
    :data:`FEATURE_FUNCTION`, so that nothing else in the notebook is taken for it.
    """
    name = getattr(function, "__name__", repr(function))
    if not inspect.isfunction(function) or name != FEATURE_FUNCTION:
        raise ConfigError(f"the feature code must be a function named {FEATURE_FUNCTION!r} "
                          f"(got {name!r}); see docs/features.md", key="features")
    filename = inspect.getsourcefile(function) or ""
    source = "".join(linecache.getlines(filename))
    if not source.strip():
        raise ConfigError(f"the source of {FEATURE_FUNCTION} cannot be read; define it in "
                          f"the training notebook's cell that starts with {MARK!r}",
                          key="features")
    if source.lstrip().splitlines()[0].strip() != MARK:
        raise ConfigError(f"{FEATURE_FUNCTION} must be defined in the cell that starts with "
                          f"{MARK!r}: that cell alone becomes the model's feature code, so "
                          "it must hold every import and helper the function uses",
                          key="features")
    return source if source.endswith("\n") else source + "\n"


def register_source(source: str, *, origin: str = FEATURE_FILE) -> str:
    """Run feature code ``source`` once as its hash-named module; returns the module name.

    The module must define :data:`FEATURE_FUNCTION`. Registering the same text again is a
    no-op, so every loader of a model may call this.
    """
    name = module_name(source)
    if name in sys.modules:
        return name
    module = types.ModuleType(name, f"feature code from {origin}")
    module.__file__ = origin
    try:
        exec(compile(source, origin, "exec"), module.__dict__)  # noqa: S102 - see the docstring
    except Exception as exc:
        raise ConfigError(f"{origin}: the feature code fails as it loads: "
                          f"{type(exc).__name__}: {exc}", key="features") from exc
    if not callable(module.__dict__.get(FEATURE_FUNCTION)):
        raise ConfigError(f"{origin} defines no function {FEATURE_FUNCTION!r}",
                          key="features")
    sys.modules[name] = module
    _SOURCES[name] = source
    return name


_SOURCES: dict[str, str] = {}  # the text of each registered module, to save with a model


def source_of(module: str) -> str:
    """The text that ``module`` was registered from."""
    return _SOURCES[module]


def used_module(model: Any) -> str | None:
    """The feature module a fitted pipeline's first step runs, if it has one."""
    steps = getattr(model, "steps", None) or []
    module = getattr(steps[0][1], "module", None) if steps else None
    return module if isinstance(module, str) and module.startswith(MODULE_PREFIX) else None


def beside(model_file: str | Path) -> Path | None:
    """The ``features.py`` next to ``model_file`` in a run folder, if there is one."""
    path = Path(model_file).with_name(FEATURE_FILE)
    return path if path.is_file() else None


def register_file(path: str | Path) -> str:
    """:func:`register_source` for a stored ``features.py`` (hash-checked by the caller)."""
    path = Path(path)
    return register_source(path.read_text(encoding="utf-8"), origin=path.name)


def feature_function(module: str) -> Callable[[Any], Any]:
    """The registered ``add_features`` of ``module``; never imports anything.

    A name that is not a hash-named feature module, or one not registered from the version's
    own ``features.py``, is refused.
    """
    if not (module.startswith(MODULE_PREFIX) and module in sys.modules):
        raise IntegrityError(
            f"the model's feature code {module!r} is not loaded: load the model with the "
            f"{FEATURE_FILE} stored beside it (the registry and the run folder do this)")
    return sys.modules[module].__dict__[FEATURE_FUNCTION]
