"""The items dashboard: a read-only web page for operators (``app``), its own process (``main``)."""
