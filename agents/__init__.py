"""Everything that learns: one file per algorithm, shared numerics written once."""
