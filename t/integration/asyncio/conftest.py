"""The kombu.otel fixture (an instrumented process with in-memory exporters)."""
from t.unit.otel.common import option_telemetry, telemetry  # noqa: F401
