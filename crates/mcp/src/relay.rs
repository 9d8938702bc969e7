//! What the upstream sends back towards the agent outside of responses:
//! progress, URL-mode elicitation and custom notifications (the end of an
//! elicitation). Through `signoff mcp` this carries the server's held-call
//! progress and review-page elicitations to a stdio client. An upstream
//! session shared by stateless requests (MCP 2026-07-28) has no agent
//! session: its progress goes to each call's own request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    ClientCapabilities, ClientConfig, CustomNotification, ElicitRequestParams, ElicitResult,
    ElicitationCapability, ProgressNotificationParam, ProgressToken, ServerNotification,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData as McpError, Peer, RoleClient, RoleServer};

/// Upstream progress token → the agent's request and its token there.
type Tokens = Arc<Mutex<HashMap<ProgressToken, (Peer<RoleServer>, ProgressToken)>>>;

/// The upstream session's client handler, relaying to the agent's session.
#[derive(Clone, Default)]
pub struct Relay {
    agent: Arc<Mutex<Option<Agent>>>,
    /// The upstream assigns its own progress tokens: upstream token → where
    /// the agent hears about the same call, and its token there.
    tokens: Tokens,
}

#[derive(Clone)]
struct Agent {
    peer: Peer<RoleServer>,
    /// What the agent's client can do, offered upstream as ours.
    elicitation: Option<ElicitationCapability>,
}

impl Relay {
    /// Binds the relay to the agent's session; call before connecting upstream.
    pub fn attach(&self, peer: Peer<RoleServer>, elicitation: Option<ElicitationCapability>) {
        if let Ok(mut agent) = self.agent.lock() {
            *agent = Some(Agent { peer, elicitation });
        }
    }

    /// Progress for `upstream` goes to `peer` as `agent`, until the
    /// returned guard drops.
    pub fn map_progress(
        &self,
        upstream: ProgressToken,
        peer: Peer<RoleServer>,
        agent: ProgressToken,
    ) -> TokenGuard {
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(upstream.clone(), (peer, agent));
        }
        TokenGuard {
            tokens: self.tokens.clone(),
            upstream,
        }
    }

    fn agent(&self) -> Option<Agent> {
        self.agent.lock().ok().and_then(|a| a.clone())
    }
}

impl ClientHandler for Relay {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        // Only what can be relayed is declared: sampling and roots are not.
        capabilities.elicitation = self.agent().and_then(|a| a.elicitation);
        let mut info = ClientConfig::default();
        info.capabilities = capabilities;
        info
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        let Some(agent) = self.agent() else {
            return Err(McpError::internal_error("no agent session to ask", None));
        };
        agent.peer.create_elicitation(request).await.map_err(|e| {
            McpError::internal_error(format!("the agent's client did not answer: {e}"), None)
        })
    }

    async fn on_progress(
        &self,
        mut params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let mapped = self
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(&params.progress_token).cloned());
        // Progress for calls the agent did not ask progress for is dropped.
        let Some((peer, token)) = mapped else {
            return;
        };
        params.progress_token = token;
        let _ = peer.notify_progress(params).await;
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _: NotificationContext<RoleClient>,
    ) {
        if let Some(agent) = self.agent() {
            let _ = agent
                .peer
                .send_notification(ServerNotification::CustomNotification(notification))
                .await;
        }
    }
}

/// Ends a progress mapping.
pub struct TokenGuard {
    tokens: Tokens,
    upstream: ProgressToken,
}

impl Drop for TokenGuard {
    fn drop(&mut self) {
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(&self.upstream);
        }
    }
}
