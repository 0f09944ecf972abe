"""Verification toolkit: analytic problems, convergence orders, strategies, distribution distances."""

from . import problems
from .problems import Problem

__all__ = ["problems", "Problem"]
