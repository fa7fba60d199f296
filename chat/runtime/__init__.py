"""The wiring: one Runtime per process, its turn and world APIs, backends, periodic snapshots."""
