"""Figures: diagnostics, effects and means, power curves. matplotlib is imported here only."""
