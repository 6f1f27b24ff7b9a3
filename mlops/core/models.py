"""The models of one repository: ``params.yaml`` at the top and ``models/<name>/params.yaml``.

Each params file is one model: its own data, schema, ``model.name`` (the registry
namespace) and Space settings. The top-level ``params.yaml`` is optional once a model
folder exists, so a repository can hold one model or many with the same commands.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlops.core.exceptions import ConfigError
from mlops.core.typed_yaml import safe_load_yaml

__all__ = ["MODELS_DIR", "NOTEBOOKS_DIR", "find_model", "model_files", "params_files",
           "stage_notebook"]

MODELS_DIR = "models"
NOTEBOOKS_DIR = "notebooks"  # a model folder's own stage notebooks, beside its params.yaml


def params_files(root: str | Path) -> list[Path]:
    """Every model's params file under ``root``: the top-level one first, then by folder."""
    root = Path(root)
    top = [root / "params.yaml"] if (root / "params.yaml").is_file() else []
    return top + sorted((root / MODELS_DIR).glob("*/params.yaml"))


def model_files(root: str | Path) -> dict[str, Path]:
    """``model.name`` -> params file, for every model under ``root``.

    Two files naming the same model would share a registry namespace: that is refused.
    """
    found: dict[str, Path] = {}
    for path in params_files(root):
        try:
            name = (safe_load_yaml(path.read_text(encoding="utf-8")) or {})["model"]["name"]
        except (yaml.YAMLError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: no model.name ({type(exc).__name__})", file=str(path),
                              key="model.name") from None
        if name in found:
            raise ConfigError(f"{path} and {found[name]} both name the model {name!r}; each "
                              "model needs its own model.name (its registry namespace)",
                              file=str(path), key="model.name")
        found[str(name)] = path
    return found


def find_model(root: str | Path, name: str) -> Path:
    """The params file of the model called ``name``, or a :class:`ConfigError` listing them."""
    models = model_files(root)
    if name not in models:
        raise ConfigError(f"no model named {name!r} under {Path(root).resolve().name}/; the "
                          f"models are {sorted(models) or 'none'} (params.yaml and "
                          f"{MODELS_DIR}/<name>/params.yaml)", key="model.name")
    return models[name]


def stage_notebook(params_file: str | Path, name: str, shared: str | Path) -> Path:
    """The notebook ``name`` that a model runs: a model folder's own copy
    (``models/<folder>/notebooks/``) when it has one, else the shared one in ``shared``."""
    folder = Path(params_file).resolve().parent
    own = folder / NOTEBOOKS_DIR / name
    return own if folder.parent.name == MODELS_DIR and own.is_file() \
        else Path(shared).resolve() / name
