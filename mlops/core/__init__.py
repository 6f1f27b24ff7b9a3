"""Core: typed params, exceptions, the data schema and its one cell checker, data loading,
safe model files and lineage. Imports nothing else from ``mlops``."""
