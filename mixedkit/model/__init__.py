"""The statistical model: formulas, checked data, design matrices, the likelihood engine, estimation and the state at the optimum."""
