"""A notebook-first, reproducible CI/CD template for machine learning.

Importing the package does nothing but define names: modules are imported where used, so
``import mlops`` stays cheap and pulls in neither the app, papermill nor plotting libraries.
"""

__version__ = "0.1.0"
