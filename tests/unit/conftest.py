"""Fixtures of the loop's unit tests, defined with their fakes in ``fakes.py``."""

from fakes import make_config, project

__all__ = ["make_config", "project"]
