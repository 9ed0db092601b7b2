"""Test support that is importable from any test (stand-in workflows)."""
