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
    }
}
