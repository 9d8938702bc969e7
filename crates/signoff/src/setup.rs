//! Finding the config, the store and the server from flags and environment.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use signoff_client::Client;
use signoff_config::Config;

/// The data directory of the embedded default when none is given.
pub const DEFAULT_DATA_DIR: &str = "signoff-data";

/// The config file if one was given, else the embedded default.
pub fn config(path: Option<&Path>, data_dir: Option<&Path>) -> Result<Config> {
    let mut config = match path {
        Some(p) => Config::load(p).with_context(|| format!("invalid config `{}`", p.display()))?,
        None => Config::embedded(PathBuf::from(DEFAULT_DATA_DIR)),
    };
    if let Some(d) = data_dir {
        config.server.data_dir = d.to_path_buf();
    }
    Ok(config)
}

/// Server URL and credentials for commands that talk to a running gateway.
#[derive(clap::Args, Clone, Debug)]
pub struct Remote {
    /// The gateway's URL; defaults to `public_url` from the config.
    #[arg(long, env = "SIGNOFF_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Your API key.
    #[arg(
        long,
        env = "SIGNOFF_TOKEN",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

impl Remote {
    pub fn client(&self, config_path: Option<&Path>) -> Result<Client> {
        let (url, token) = self.endpoint(config_path)?;
        Ok(Client::new(&url, &token)?)
    }

    /// The gateway's URL and the API key to present there.
    pub fn endpoint(&self, config_path: Option<&Path>) -> Result<(String, String)> {
        let url = match &self.url {
            Some(u) => u.clone(),
            None => config(config_path, None)?.server.public_url,
        };
        let token = self
            .token
            .clone()
            .context("no API key: set SIGNOFF_TOKEN (or pass --token); `signoff keys create --principal user:ID` makes one")?;
        Ok((url, token))
    }
}

/// Parses durations like `30s`, `5m`, `1h`.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    signoff_core::duration::parse(text)
}
