"""Temporal wiring shared by every process that talks to Temporal."""
