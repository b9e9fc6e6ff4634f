//! From a gRPC request to the context a command is handled in.

use std::collections::HashMap;

use hongxin_domain::CommandContext;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::grpc::{CorrelationId, IncomingTrace};

/// Metadata key of an optional idempotency key for commands.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The command context of a call: its correlation id, the trace context of
/// the current span (so events point at the command's span), and the
/// caller's idempotency key.
///
/// The actor is `anonymous` until authentication establishes the caller.
pub fn command_context<T>(request: &tonic::Request<T>) -> CommandContext {
    let mut ctx = CommandContext::new(actor_of(request));
    if let Some(CorrelationId(id)) = request.extensions().get::<CorrelationId>() {
        ctx.correlation_id = *id;
    }
    let (traceparent, tracestate) = current_trace();
    let incoming = request
        .extensions()
        .get::<IncomingTrace>()
        .cloned()
        .unwrap_or_default();
    ctx.traceparent = traceparent.or(incoming.traceparent);
    ctx.tracestate = tracestate.or(incoming.tracestate);
    ctx.traceparent = ctx
        .traceparent
        .filter(|t| hongxin_eventstore::valid_traceparent(t));
    ctx.idempotency_key = request
        .metadata()
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(str::to_owned);
    ctx
}

fn actor_of<T>(_request: &tonic::Request<T>) -> String {
    "anonymous".to_owned()
}

/// The W3C trace context of the current span, when it has a valid one.
pub fn current_trace() -> (Option<String>, Option<String>) {
    let mut carrier: HashMap<String, String> = HashMap::new();
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    (
        carrier.remove("traceparent"),
        carrier.remove("tracestate").filter(|s| !s.is_empty()),
    )
}
