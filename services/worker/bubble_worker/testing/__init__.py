"""Test support shared by the worker's tests and the history recorder (tools:record-histories)."""
