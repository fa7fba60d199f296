"""Projection state: each module owns some tables and the handlers that fill them."""
