"""Stages: pure functions behind the stage notebooks (validate, train, evaluate) and their
reports and plots. Built on ``core`` only."""
