"""The kombu.otel fixtures (in-memory exporters; instrumented, or by transport option)."""
from t.unit.otel.common import option_telemetry, telemetry  # noqa: F401
