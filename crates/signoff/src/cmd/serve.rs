use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use signoff_config::demo;
use signoff_core::Principal;
use signoff_gateway::{bootstrap_demo_keys, Decider, Gateway, GatewaySettings};
use signoff_store::Store;

use crate::setup;

#[derive(clap::Args)]
pub struct Args {
    /// Listen on this address instead of the config's (`127.0.0.1:8080`); a
    /// `public_url` the config does not set follows it.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Keep state here instead of the config's data directory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGNOFF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn run(config_path: Option<PathBuf>, log_format: &str, args: Args) -> Result<ExitCode> {
    init_logging(log_format);
    let mut config = setup::config(config_path.as_deref(), args.data_dir.as_deref())?;
    if let Some(listen) = args.listen {
        config.server.listen_on(listen);
    }
    // INVARIANT: an invalid policy stops the server before it takes traffic.
    let decider =
        Decider::from_config(&config).context("policy did not load, so signoff will not start")?;
    let store = Store::open(&config.server.data_dir).context("cannot open the data directory")?;
    let gateway = Gateway::new(
        decider,
        store.clone(),
        GatewaySettings {
            public_url: config.server.public_url.clone(),
            max_hold: config.approvals.max_hold,
            masking: config.masking.clone(),
            key_recheck: config.server.key_recheck,
        },
        config.key_hashes.clone(),
    );
    gateway
        .record_start(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "config": config.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "embedded default".into()),
            "policies": gateway.decider().policy_count(),
        }))
        .await
        .context("cannot write the audit log")?;

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}; is another signoff running? pass --listen to pick another address", config.server.listen))?;
    let url = &config.server.public_url;

    eprintln!("signoff {} listening on {url}", env!("CARGO_PKG_VERSION"));
    eprintln!("  data:     {}", config.server.data_dir.display());
    eprintln!(
        "  policies: {} loaded{}",
        gateway.decider().policy_count(),
        if config.is_embedded() {
            " (quickstart set)"
        } else {
            ""
        }
    );
    if config.is_embedded() {
        let mut principals = vec![
            Principal::Agent(demo::AGENT.into()),
            Principal::User(demo::OPERATOR.into()),
        ];
        principals.extend(demo::REVIEWERS.iter().map(|r| Principal::User((*r).into())));
        match bootstrap_demo_keys(&store, principals)
            .await
            .context("cannot create the demo keys")?
        {
            Some(keys) => {
                eprintln!("\nDemo API keys (shown once; only their hashes are stored):");
                for (p, key) in &keys {
                    eprintln!("  {:<26} {key}", p.to_string());
                }
                let agent_key = &keys[0].1;
                eprintln!("\nTry it:");
                eprintln!("  export SIGNOFF_URL={url} SIGNOFF_TOKEN={agent_key}");
                eprintln!("  signoff exec --target demo-shell -- ls -la            # allowed");
                eprintln!("  signoff exec --target demo-shell -- rm -rf /tmp/demo  # waits for a reviewer");
                eprintln!(
                    "  SIGNOFF_TOKEN=<a reviewer key> signoff approvals list --status pending"
                );
            }
            None => eprintln!(
                "  demo keys were printed on first start; make more with `signoff keys create`"
            ),
        }
    }
    eprintln!("\nPress Ctrl-C to stop.");

    let sweeper = gateway.spawn_sweeper(Duration::from_millis(500));
    let mcp = signoff_server::mcp::McpSettings {
        upstreams: config.mcp_upstreams.clone(),
        hold: config.approvals.max_hold,
        // `None` if it cannot be built: results that must be masked are then withheld.
        masker: signoff_mask::Masker::new(&config.masking)
            .ok()
            .map(Arc::new),
        allowed_hosts: allowed_hosts(&config.server.public_url),
        max_message_bytes: config.server.max_body_bytes,
    };
    if !mcp.upstreams.is_empty() {
        let names: Vec<&str> = mcp.upstreams.keys().map(String::as_str).collect();
        eprintln!(
            "MCP endpoints: {}/mcp/{{{}}}",
            config.server.public_url.trim_end_matches('/'),
            names.join(",")
        );
    }
    let mut pg_doors = Vec::new();
    for (name, listener) in &config.pg_listeners {
        let settings = signoff_server::pg::settings(&gateway, name, listener, mcp.masker.clone())
            .with_context(|| {
            format!("cannot set up the PostgreSQL front door of target `{name}`")
        })?;
        // Bound here, so a taken address stops `serve` before the banner; the
        // door's own runtime takes it over (`signoff_pg::Door`).
        let socket = std::net::TcpListener::bind(listener.listen).with_context(|| {
            format!(
                "cannot listen on {} for target `{name}`; pick another `listen` address",
                listener.listen
            )
        })?;
        eprintln!(
            "PostgreSQL front door for `{name}`: {} (log in as agent:NAME with its API key)",
            listener.listen
        );
        let gate = Arc::new(signoff_server::pg::GatewayGate {
            gateway: gateway.clone(),
            hold: config.approvals.max_hold,
        });
        pg_doors.push(
            signoff_pg::Door::start(socket, settings, gate).with_context(|| {
                format!("cannot start the PostgreSQL front door of target `{name}`")
            })?,
        );
    }
    let mut channels = signoff_server::channels::Channels::from_config(&config)
        .context("cannot set up the reviewer channels")?;
    let slack = channels.slack.clone();
    let deliveries = channels
        .start(&gateway, &config)
        .await
        .context("cannot start notification delivery")?;
    if !deliveries.is_empty() {
        eprintln!("Notifications: {}", channel_names(&config));
    }
    let mut app = signoff_server::router(
        gateway.clone(),
        signoff_server::RouterConfig {
            max_body_bytes: config.server.max_body_bytes,
            channel_metrics: channels.metrics.clone(),
        },
    )
    .merge(
        signoff_server::mcp::routes(gateway.clone(), mcp)
            .context("cannot set up the MCP targets; check their `headers` in signoff.toml")?,
    )
    .merge(signoff_server::ui::routes(
        gateway.clone(),
        &config.server.public_url,
    ));
    if let Some(slack) = slack {
        app = app.merge(signoff_server::channels::slack_routes(
            gateway.clone(),
            slack,
        ));
    }
    signoff_server::serve(listener, app, shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    sweeper.abort();
    for task in &deliveries {
        task.abort();
    }
    // INVARIANT: the doors' sessions end before the store closes, so every
    // read they ran is queued in time for its last commit.
    for door in pg_doors {
        door.stop();
    }
    tracing::info!("shutting down: committing the audit log");
    store.shutdown();
    Ok(ExitCode::SUCCESS)
}

fn channel_names(config: &signoff_config::Config) -> String {
    let c = &config.channels;
    let mut names = Vec::new();
    if let Some(s) = &c.slack {
        names.push(format!(
            "Slack (channel {}, interactions at /slack/interactions)",
            s.channel
        ));
    }
    if c.teams.is_some() {
        names.push("Teams".to_owned());
    }
    names.extend(c.webhooks.iter().map(|w| format!("webhook `{}`", w.name)));
    names.join(", ")
}

/// The hosts MCP clients may name in `Host`: loopback and the public URL's.
fn allowed_hosts(public_url: &str) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let authority = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    if !authority.is_empty() {
        hosts.push(authority.to_owned());
    }
    hosts
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
