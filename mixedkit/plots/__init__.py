"""Figures: diagnostics, effects and means, power curves.

matplotlib (0.6 s to import) is imported inside the functions that draw, so that
``import mixedkit`` and the plots' data functions (``means_data``, ``effects_data``,
``diagnostics_data``) do not load it.
"""
