"""The local Hub-protocol server now ships with the package (``mlops loop`` starts it):
:mod:`mlops.space.hubserver`. Tests import it from here as before."""

from mlops.space.hubserver import HubServer, HubState, _commit_sha, _error, build_app

__all__ = ["HubServer", "HubState", "_commit_sha", "_error", "build_app"]
