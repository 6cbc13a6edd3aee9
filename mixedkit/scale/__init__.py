"""Many refits: power simulations and one model over many responses."""
