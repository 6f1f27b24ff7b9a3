"""The local Hub-protocol server ships with the package (``mlops loop`` starts it):
:mod:`mlops.space.hubserver`. Tests import it from here as before."""

from mlops.space.hubserver import (
    HubServer,
    HubState,
    HubToken,
    _commit_sha,
    _error,
    build_app,
    git_blob_oid,
)

__all__ = ["HubServer", "HubState", "HubToken", "_commit_sha", "_error", "build_app",
           "git_blob_oid"]
