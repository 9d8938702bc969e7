//! A small real MCP server written with `rmcp`, the upstream of signoff's MCP
//! tests and of `bench/run.sh mcp`.
//!
//!   mcp_upstream                 MCP on stdin/stdout
//!   mcp_upstream --http PORT     streamable HTTP at http://127.0.0.1:PORT/mcp
//!
//! Tools: `echo` (text, count), `lookup_customer` (a result with PII),
//! `delete_repo` (what policy forbids), `slow` (sleeps `ms`; a cancellation
//! is noted in the file `MCP_UPSTREAM_LOG` names), `crash` (exits mid-call). One resource and one prompt, so
//! pass-through can be checked.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, JsonObject, ListPromptsResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, Prompt, PromptMessage,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, Role, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Fixture;

fn schema(v: Value) -> Arc<JsonObject> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

fn tools() -> Vec<Tool> {
    let text = |name: &'static str, description: &'static str, props: Value, required: Value| {
        Tool::new(
            name,
            description,
            schema(json!({"type": "object", "properties": props, "required": required})),
        )
    };
    let mut delete = text(
        "delete_repo",
        "Deletes a repository.",
        json!({"name": {"type": "string"}}),
        json!(["name"]),
    );
    delete.annotations = Some(ToolAnnotations::from_raw(
        None,
        Some(false),
        Some(true),
        None,
        None,
    ));
    // What echo says of itself: a held echo's reviewers read it (and it
    // lets nothing through).
    let mut echo = text(
        "echo",
        "Repeats `text` `count` times.",
        json!({"text": {"type": "string"}, "count": {"type": "integer"}}),
        json!(["text"]),
    );
    echo.annotations = Some(ToolAnnotations::from_raw(
        Some("Echo".into()),
        Some(true),
        Some(false),
        Some(true),
        Some(false),
    ));
    vec![
        echo,
        text(
            "lookup_customer",
            "A result holding PII, for result masking.",
            json!({"email": {"type": "string"}}),
            json!(["email"]),
        ),
        delete,
        text(
            "slow",
            "Sleeps `ms` milliseconds.",
            json!({"ms": {"type": "integer"}}),
            json!(["ms"]),
        ),
        text("crash", "Exits the server mid-call.", json!({}), json!([])),
    ]
}

/// Appends `line` to the file `MCP_UPSTREAM_LOG` names, so tests can see
/// what reached the upstream (a cancellation, say).
fn note(line: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("MCP_UPSTREAM_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn arg<'a>(args: &'a JsonObject, name: &str) -> Option<&'a Value> {
    args.get(name)
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(rmcp::model::Implementation::new("fixture", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut listed = ListToolsResult::with_all_items(tools());
        // The same for everyone here, so a shared cache may keep it (MCP
        // 2026-07-28); through signoff it is one caller's.
        listed.ttl_ms = Some(60_000);
        listed.cache_scope = Some(CacheScope::Public);
        Ok(listed)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if let Some(responses) = &request.input_responses {
            // Answers only this server's input requests should carry.
            let keys: Vec<&String> = responses.keys().collect();
            note(&format!("input responses: {keys:?}"));
        }
        let args = request.arguments.unwrap_or_default();
        let text = match request.name.as_ref() {
            "echo" => {
                let word = arg(&args, "text").and_then(Value::as_str).unwrap_or("");
                let n = arg(&args, "count").and_then(Value::as_u64).unwrap_or(1);
                vec![word; n.min(1000) as usize].join(" ")
            }
            "lookup_customer" => {
                let email = arg(&args, "email").and_then(Value::as_str).unwrap_or("");
                format!("customer {email} pays with card 4111 1111 1111 1111")
            }
            "delete_repo" => {
                let name = arg(&args, "name").and_then(Value::as_str).unwrap_or("");
                format!("deleted {name}")
            }
            "slow" => {
                let ms = arg(&args, "ms").and_then(Value::as_u64).unwrap_or(0);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => format!("slept {ms} ms"),
                    _ = context.ct.cancelled() => {
                        note("slow cancelled");
                        return Err(McpError::internal_error("cancelled", None));
                    }
                }
            }
            "crash" => std::process::exit(3),
            other => return Err(McpError::invalid_params(format!("no tool `{other}`"), None)),
        };
        let mut result = CallToolResult::success(vec![ContentBlock::text(text.clone())]);
        result.structured_content = Some(json!({ "text": text, "tool": request.name }));
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            "fixture://readme",
            "readme",
        )]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        if request.uri != "fixture://readme" {
            return Err(McpError::resource_not_found(
                format!("no resource `{}`", request.uri),
                None,
            ));
        }
        Ok(ReadResourceResult::new(vec![ResourceContents::text(
            "the fixture's readme",
            request.uri,
        )])
        .into())
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "greet",
            Some("Says hello."),
            None,
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("hello from prompt `{}`", request.name),
        )])
        .into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--http") => {
            let port: u16 = args.get(2).ok_or("--http needs a port")?.parse()?;
            let mut config =
                rmcp::transport::streamable_http_server::StreamableHttpServerConfig::default();
            config.json_response = true;
            let service = rmcp::transport::streamable_http_server::StreamableHttpService::new(
                || Ok(Fixture),
                Arc::new(
                    rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default(),
                ),
                config,
            );
            // What credentials arrive, so tests can see that signoff sends
            // its held headers and never the agent's own key.
            let app =
                axum::Router::new()
                    .nest_service("/mcp", service)
                    .layer(axum::middleware::from_fn(
                        |request: axum::extract::Request, next: axum::middleware::Next| {
                            let header = |name: &str| {
                                request
                                    .headers()
                                    .get(name)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("-")
                                    .to_owned()
                            };
                            if std::env::var_os("MCP_UPSTREAM_LOG").is_some() {
                                note(&format!(
                                    "request authorization={} x-fixture-key={}",
                                    header("authorization"),
                                    header("x-fixture-key")
                                ));
                            }
                            next.run(request)
                        },
                    ));
            use axum::serve::ListenerExt;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await?
                .tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
            axum::serve(listener, app).await?;
        }
        _ => {
            let running = Fixture.serve(rmcp::transport::stdio()).await?;
            running.waiting().await?;
        }
    }
    Ok(())
}
