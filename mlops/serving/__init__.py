"""Serving: the router (blue-green, canary, shadow), request checks, the prediction log,
deployment state and the rules that judge a release."""
