"""Everything computed from a fit's state: tests, df methods, means, intervals, predictions, variance shares, bootstrap, diagnostics data."""
