"""All errors raised by ``mlops``, under one root, each with the CLI exit code it maps to.

Every subclass also inherits the matching builtin so callers can catch it the usual way,
carries structured fields, and has a message that says what to fix.
"""

from __future__ import annotations

__all__ = [
    "MLOpsError",
    "ConfigError",
    "DataError",
    "DataValidationError",
    "GateFailedError",
    "ModelMismatchError",
    "StageError",
    "StageOrderError",
    "RegistryError",
    "ConflictError",
    "IntegrityError",
    "NotFoundError",
    "UnavailableError",
    "RequestError",
    "ServingError",
    "AccessDeniedError",
    "PublishError",
    "error_class",
]


class MLOpsError(Exception):
    """Root of every error this package raises on purpose."""

    exit_code = 10

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = {k: v for k, v in fields.items() if v is not None}


class DataValidationError(MLOpsError, ValueError):
    """Data was readable but a blocking validation check failed."""

    exit_code = 1


class ConfigError(MLOpsError, ValueError):
    """``params.yaml`` or an override is wrong: names the key and what it expects."""

    exit_code = 2


class DataError(MLOpsError, ValueError):
    """An input file cannot be used at all (missing, empty, wrong format, ...)."""

    exit_code = 2


class ModelMismatchError(MLOpsError, ValueError):
    """The registered production model of ``model.name`` is another model: it predicts
    another target or other classes, or reads columns this run's data does not have.

    The user's setting, not a broken input file: set ``model.name`` to a name of its own.
    """

    exit_code = 9


class GateFailedError(MLOpsError, AssertionError):
    """An evaluation gate failed; the model must not be registered."""

    exit_code = 3


class RegistryError(MLOpsError, RuntimeError):
    """The registry refused an operation."""

    exit_code = 4


class ConflictError(RegistryError):
    """A compare-and-swap lost: someone else moved the alias first."""


class IntegrityError(RegistryError):
    """A stored file does not match its recorded hash or holds untrusted types."""


class NotFoundError(RegistryError, LookupError):
    """The model, version or alias does not exist."""


class UnavailableError(RegistryError):
    """The registry's storage (the Hub) cannot be reached or failed: a refused connection,
    a timeout, an HTTP 5xx. Nothing is known to be wrong with the registry; retry later."""


class RequestError(MLOpsError, ValueError):
    """A prediction request does not match the serving schema."""

    exit_code = 2


class ServingError(MLOpsError, RuntimeError):
    """A valid request could not be scored (no loadable model, or the model failed)."""

    exit_code = 6


class StageError(MLOpsError, RuntimeError):
    """A pipeline stage (notebook) failed for a reason that is not one of ours."""

    exit_code = 5


class StageOrderError(StageError, FileNotFoundError):
    """A stage ran before the stage that writes its input (03 opened before 02 ran)."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message says what to run first.
        return [f"{type(self).__name__}: {self.message}"]


def error_class(name: str) -> type[MLOpsError]:
    """Return the ``mlops`` error class called ``name``, or :class:`StageError`.

    Used to turn an exception raised inside a notebook kernel back into our own type.
    """
    found = globals().get(name)
    if isinstance(found, type) and issubclass(found, MLOpsError):
        return found
    return StageError


class AccessDeniedError(MLOpsError, PermissionError):
    """An operator action was attempted without the operator token (the app's admin view)."""

    exit_code = 8


class PublishError(MLOpsError, RuntimeError):
    """Uploading to or fetching from the Hugging Face Hub (Space, dataset) failed."""

    exit_code = 7
