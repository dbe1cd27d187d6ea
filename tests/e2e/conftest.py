"""Fixtures of the end-to-end tests, defined with their problem in ``sum_of_squares.py``."""

from sum_of_squares import project

__all__ = ["project"]
