"""Snapshot files of the projections and the cold load that uses them (§10.4–§10.7)."""
