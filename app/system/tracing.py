"""OpenTelemetry traces, optional (`pip install 'ipai-rag[otel]'` and OTEL_EXPORTER_OTLP_ENDPOINT): a span per
HTTP request (Litestar's OpenTelemetry plugin over the ASGI instrumentation), with the request id
(app.system.middleware), and spans of
the service's own steps inside it (search, answer). Without the setting the API's no-op tracer costs nothing."""
from __future__ import annotations

import logging
import os
from typing import Any

from litestar.plugins import InitPluginProtocol
from opentelemetry import trace

log = logging.getLogger(__name__)


def tracing_plugin(exporter: Any | None = None) -> InitPluginProtocol | None:
    """The plugin that traces requests: to the OTLP endpoint the standard OTEL_* variables name, or to `exporter`
    (tests); None when neither is given or the otel extra is not installed."""
    if exporter is None and not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                                 or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return None
    try:
        from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed: no traces")
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                                     "ipai-rag")}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    # the service's own spans (trace.get_tracer) join the request's: one provider for the process (the first set
    # stays: OpenTelemetry allows one)
    trace.set_tracer_provider(provider)
    return OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=provider, exclude_spans=["receive", "send"]))
