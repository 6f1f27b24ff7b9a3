"""The pipeline: runs the stage notebooks with papermill, fingerprints the inputs and hands a
successful run over to the registry."""
