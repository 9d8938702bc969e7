//! signoff's HTTP server (DESIGN §10): the check API, approvals, reviews, the
//! audit log, health, Prometheus metrics and the OpenAPI document.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod channels;
mod error;
pub mod mcp;
pub mod pg;
mod routes;
pub mod ui;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use signoff_channels::ChannelMetrics;
use signoff_gateway::Gateway;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use routes::ApiDoc;

#[derive(Clone)]
pub struct AppState {
    pub gateway: Gateway,
    pub channel_metrics: Arc<ChannelMetrics>,
}

/// What the core router needs besides the gateway.
pub struct RouterConfig {
    pub max_body_bytes: usize,
    pub channel_metrics: Arc<ChannelMetrics>,
}

/// The full router.
pub fn router(gateway: Gateway, config: RouterConfig) -> Router {
    Router::new()
        .route("/v1/actions", post(routes::check))
        .route("/v1/actions/{id}/outcome", post(routes::outcome))
        .route("/v1/approvals", get(routes::list_approvals))
        .route("/v1/approvals/{id}", get(routes::get_approval))
        .route("/v1/approvals/{id}/reviews", post(routes::review))
        .route("/v1/approvals/{id}/cancel", post(routes::cancel))
        .route("/v1/audit", get(routes::audit))
        .route("/v1/openapi.json", get(routes::openapi))
        .route("/healthz", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(AppState {
            gateway,
            channel_metrics: config.channel_metrics,
        })
}

/// Serves until `shutdown` resolves, then drains open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Without TCP_NODELAY, a response's last small write (the end of a
    // chunked or event-stream body) waits on the client's delayed ACK: ~40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Parses `?wait=` values: `30s`, `5m`, or plain seconds.
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    signoff_core::duration::parse(text)
}
