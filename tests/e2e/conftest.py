"""Fixtures of the end-to-end tests: the problem (``sum_of_squares.py``) and the scripted model (``avo_process.py``)."""

from avo_process import llm_server
from sum_of_squares import project

__all__ = ["llm_server", "project"]
