from bubble_shared.testing.clean_exit import pytest_sessionfinish, pytest_unconfigure

__all__ = ["pytest_sessionfinish", "pytest_unconfigure"]
