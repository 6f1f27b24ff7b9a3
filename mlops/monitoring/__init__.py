"""Monitoring: drift, latency and live quality from the prediction log; automatic rollback;
the offline traffic simulation."""
