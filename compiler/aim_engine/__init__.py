"""AIM Engine: compile serving recipes for AMD Instinct GPUs into plans and artifacts.

Kept free of imports so that `aim_pick` (stdlib only) can read this package's data.
"""

__version__ = "0.1.0"
