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
/// The actor is the authenticated caller.
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

/// The authenticated caller's subject ("person:…", "service:grid", or
/// the identity provider's subject); `anonymous` only where a call needs no
/// token.
fn actor_of<T>(request: &tonic::Request<T>) -> String {
    crate::auth::caller_of(request).map_or_else(|| "anonymous".to_owned(), |c| c.actor())
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

/// Makes `span` a child of the W3C trace context carried by an event, so one
/// trace shows the command, its event and what consumed it. Does nothing for
/// an empty or malformed context.
pub fn continue_trace(span: &tracing::Span, traceparent: &str, tracestate: &str) {
    if !hongxin_eventstore::valid_traceparent(traceparent) {
        return;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if !tracestate.is_empty() {
        carrier.insert("tracestate".to_owned(), tracestate.to_owned());
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let _ = span.set_parent(parent);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_continues_the_trace_an_event_carries() {
        let config = crate::config::Telemetry {
            log_filter: "warn".to_owned(),
            log_format: "pretty".to_owned(),
            otlp_endpoint: None,
        };
        let _guard = crate::telemetry::init(&config, "test").expect("telemetry");
        let carried = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let span = tracing::info_span!("project");
        continue_trace(&span, carried, "");
        let (traceparent, _) = span.in_scope(current_trace);
        let traceparent = traceparent.expect("the span has a trace context");
        assert_eq!(
            traceparent.split('-').nth(1),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_ne!(
            traceparent, carried,
            "the span is a child, with its own span id"
        );

        let orphan = tracing::info_span!("project");
        continue_trace(&orphan, "garbage", "");
        let (other, _) = orphan.in_scope(current_trace);
        assert_ne!(
            other.as_deref().and_then(|t| t.split('-').nth(1)),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }
}
