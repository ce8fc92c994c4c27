"""aim-pick: the host shim. Detects AMD GPUs and prints the prebuilt AIM Engine plan.

Standard library only: it runs on GPU hosts where nothing else may be installed, also
as a single file (build/aim-pick.pyz, with the catalogue embedded).
"""
