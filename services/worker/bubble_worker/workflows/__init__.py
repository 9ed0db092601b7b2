"""The workflows. Deterministic code only: activities are called by name, never imported here.

Kept empty: the sandbox runs this file for every workflow run (see ``runner``).
"""
