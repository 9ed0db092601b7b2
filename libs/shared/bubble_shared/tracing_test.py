"""Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT says where spans go."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from bubble_shared.settings import EnvReader
from bubble_shared.tracing import TracingSettings, start_tracing, temporal_interceptors


def read(environ: dict[str, str]) -> tuple[TracingSettings, list[str]]:
    env = EnvReader(environ)
    return TracingSettings.read(env, default_service_name="bubble-test"), env.problems


def test_off_by_default_and_nothing_is_installed() -> None:
    settings, problems = read({})

    assert (settings, problems) == (TracingSettings(None, "bubble-test"), [])
    assert not settings.enabled
    assert start_tracing(settings) is None
    assert temporal_interceptors(settings) == []
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


def test_the_standard_variables_turn_it_on() -> None:
    settings, problems = read(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SERVICE_NAME": "bubble-a"}
    )

    assert problems == []
    assert settings == TracingSettings("http://collector:4318", "bubble-a")
    assert [type(i).__name__ for i in temporal_interceptors(settings)] == ["TracingInterceptor"]


def test_a_bad_endpoint_is_named() -> None:
    _, problems = read({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})

    assert problems == [
        "OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318' must be a URL starting with http or https://"
    ]
