use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use signoff_core::Principal;
use signoff_store::Store;

use crate::setup;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create an API key; it is printed once and only its hash is stored.
    Create {
        /// `agent:NAME` or `user:ID`, as defined in signoff.toml.
        #[arg(long)]
        principal: Principal,
        /// A note shown in the audit log.
        #[arg(long)]
        label: Option<String>,
        /// The data directory, instead of the config's.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// List API keys by id (never the keys): principal, label, created, revoked.
    List {
        /// Print JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
        /// The data directory, instead of the config's.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Revoke an API key by its id (as `keys list` and `keys create` show it).
    ///
    /// New logins are refused at once; a running server that already verified
    /// the key stops accepting it within `[server] key_recheck` (default 30s).
    Revoke {
        /// The key id, e.g. `so_AbCdEfGh`.
        key_id: String,
        /// The data directory, instead of the config's.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

pub async fn run(config_path: Option<PathBuf>, c: Command) -> Result<ExitCode> {
    match c {
        Command::Create {
            principal,
            label,
            data_dir,
        } => {
            let config = setup::config(config_path.as_deref(), data_dir.as_deref())?;
            let known = match &principal {
                Principal::Agent(n) => config.directory.agent(n).is_some(),
                Principal::User(n) => config.directory.user(n).is_some(),
            };
            if !known {
                bail!(
                    "`{principal}` is not defined in {}; add it there first",
                    config
                        .source
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the embedded default".into())
                );
            }
            let store =
                Store::open(&config.server.data_dir).context("cannot open the data directory")?;
            let (key, key_id) = signoff_gateway::create_key(&store, &principal, label)
                .await
                .context("cannot store the key")?;
            store.shutdown();
            eprintln!("created key {key_id}… for {principal}; it is shown only this once:");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json, data_dir } => {
            let store = open(config_path, data_dir)?;
            let keys = signoff_gateway::list_keys(&store)
                .await
                .context("cannot read the keys")?;
            store.shutdown();
            if json {
                for k in &keys {
                    println!("{}", serde_json::to_string(k)?);
                }
            } else {
                println!(
                    "{:<12}  {:<28}  {:<20}  {:<20}  LABEL",
                    "KEY ID", "PRINCIPAL", "CREATED", "REVOKED"
                );
                for k in &keys {
                    println!(
                        "{:<12}  {:<28}  {:<20}  {:<20}  {}",
                        k.key_id,
                        k.principal,
                        short_time(&k.created_at),
                        k.revoked_at.as_deref().map(short_time).unwrap_or("-"),
                        k.label.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke { key_id, data_dir } => {
            let store = open(config_path, data_dir)?;
            let revoked = signoff_gateway::revoke_key(&store, &key_id)
                .await
                .context("cannot revoke the key")?;
            store.shutdown();
            match revoked {
                Some(principal) => {
                    eprintln!("revoked key {key_id} of {principal}");
                    Ok(ExitCode::SUCCESS)
                }
                None => bail!(
                    "no live key has the id `{key_id}`; `signoff keys list` shows the ids and which are already revoked"
                ),
            }
        }
    }
}

fn open(config_path: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<Store> {
    let config = setup::config(config_path.as_deref(), data_dir.as_deref())?;
    Store::open(&config.server.data_dir).context("cannot open the data directory")
}

/// `2026-12-01T23:49:49` (UTC) from an RFC 3339 time with fractions.
fn short_time(t: &str) -> &str {
    t.get(..19).unwrap_or(t)
}
