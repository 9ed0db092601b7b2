"""The dashboard's settings, read once from the environment and validated before it starts.

| variable | default | meaning |
| --- | --- | --- |
| DASHBOARD_HOST | 127.0.0.1 | address to listen on (0.0.0.0 or :: in a container) |
| DASHBOARD_PORT | 8080 | HTTP port (0: any free port, for tests) |
| TEMPORAL_UI_URL | http://localhost:8233 | where runs link to (the dev server's UI by default); |
|                 |                       | "none": no links |
| DASHBOARD_PAGE_SIZE | 50 | items per page (at most 200) |
| DASHBOARD_PROGRESS_POLL_SECONDS | 1 | how often a batch page's live progress reads the batch |
| AUTH_TOKENS | unset | as for the service: a token may see only its owners' items |
| TEMPORAL_NAMESPACE, DATABASE_URL, MEDIA_ROOT | | as for the service |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bubble_service.principals import Principal, read_auth_tokens
from bubble_shared.settings import EnvReader, StoreSettings

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class DashboardSettings:
    store: StoreSettings = field(default_factory=StoreSettings)
    namespace: str = "default"
    host: str = "127.0.0.1"
    port: int = 8080
    temporal_ui_url: str = "http://localhost:8233"
    page_size: int = 50
    progress_poll_seconds: float = 1.0
    auth_tokens: Mapping[str, Principal] = field(default_factory=dict)
    """Each token and the owners it may see; empty: no sign-in, every owner is shown."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DashboardSettings:
        """Raises SettingsError naming every variable with a bad value."""
        env = EnvReader(environ)
        ui_url = env.text("TEMPORAL_UI_URL", cls.temporal_ui_url).rstrip("/")
        if ui_url.lower() == "none":
            ui_url = ""
        elif not ui_url.startswith(("http://", "https://")):
            env.problems.append(
                f"TEMPORAL_UI_URL={ui_url!r} must start with http:// or https:// (or be 'none')"
            )
        settings = cls(
            store=StoreSettings.read(env),
            namespace=env.text("TEMPORAL_NAMESPACE", cls.namespace),
            host=env.text("DASHBOARD_HOST", cls.host),
            port=env.integer("DASHBOARD_PORT", cls.port, minimum=0, maximum=65535),
            temporal_ui_url=ui_url,
            page_size=env.integer(
                "DASHBOARD_PAGE_SIZE", cls.page_size, minimum=1, maximum=MAX_PAGE_SIZE
            ),
            progress_poll_seconds=env.seconds(
                "DASHBOARD_PROGRESS_POLL_SECONDS",
                cls.progress_poll_seconds,
                minimum=0.05,
                maximum=60,
            ),
            auth_tokens=read_auth_tokens(env),
        )
        env.raise_if_invalid()
        return settings
