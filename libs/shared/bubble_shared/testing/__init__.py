"""Helpers for the tests of every service: real Temporal servers, clean process exit."""
