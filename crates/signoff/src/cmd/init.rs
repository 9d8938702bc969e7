use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Where to write signoff.toml and policies/ (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let config = args.dir.join("signoff.toml");
    let policies = args.dir.join("policies");
    if config.exists() && !args.force {
        bail!(
            "`{}` already exists; pass --force to overwrite it",
            config.display()
        );
    }
    std::fs::create_dir_all(&policies)
        .with_context(|| format!("cannot create `{}`", policies.display()))?;
    std::fs::write(&config, signoff_config::INIT_TEMPLATE)
        .with_context(|| format!("cannot write `{}`", config.display()))?;
    for (name, text) in signoff_policy::STARTER_POLICIES {
        let path = policies.join(name);
        if path.exists() && !args.force {
            continue;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    println!("wrote {} and {}/", config.display(), policies.display());
    println!(
        "next: edit them, check with `signoff policy validate --config {}`,",
        config.display()
    );
    println!("      then `signoff serve --config {}`", config.display());
    Ok(ExitCode::SUCCESS)
}
