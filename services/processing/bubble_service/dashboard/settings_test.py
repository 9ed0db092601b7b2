"""The dashboard's settings: defaults, and every bad value named at once."""

from __future__ import annotations

import pytest

from bubble_service.dashboard.settings import DashboardSettings
from bubble_shared.settings import SettingsError


def test_defaults_link_runs_to_the_dev_servers_ui() -> None:
    settings = DashboardSettings.from_env({})

    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.temporal_ui_url == "http://localhost:8233"
    assert settings.auth_tokens == {}


def test_none_turns_the_run_links_off_and_a_trailing_slash_is_dropped() -> None:
    assert DashboardSettings.from_env({"TEMPORAL_UI_URL": "none"}).temporal_ui_url == ""
    ui = DashboardSettings.from_env({"TEMPORAL_UI_URL": "https://ui.example/"}).temporal_ui_url
    assert ui == "https://ui.example"


def test_every_bad_value_is_named() -> None:
    with pytest.raises(SettingsError) as raised:
        DashboardSettings.from_env(
            {
                "TEMPORAL_UI_URL": "localhost:8233",
                "DASHBOARD_PORT": "70000",
                "DASHBOARD_PAGE_SIZE": "0",
                "AUTH_TOKENS": "short=owner-a",
            }
        )

    message = str(raised.value)
    for variable in ("TEMPORAL_UI_URL", "DASHBOARD_PORT", "DASHBOARD_PAGE_SIZE", "AUTH_TOKENS"):
        assert variable in message
    assert "short" not in message  # tokens are secrets, never echoed
