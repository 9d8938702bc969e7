use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use signoff_store::{AuditFilter, Store};

use crate::setup;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check the hash chain and signed checkpoints; name the first broken event.
    Verify {
        /// The data directory, instead of the config's.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Trust only checkpoints signed by this Ed25519 public key (hex).
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
    },
    /// Write events as JSON Lines or CSV.
    Export {
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// jsonl or csv.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// RFC 3339; events at or after.
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339; events before.
        #[arg(long)]
        until: Option<String>,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn open(
    config_path: Option<&std::path::Path>,
    data_dir: Option<&std::path::Path>,
) -> Result<Store> {
    let config = setup::config(config_path, data_dir)?;
    let db = config.server.data_dir.join("signoff.db");
    if !db.exists() {
        bail!(
            "no signoff database at `{}`; pass --data-dir or --config",
            db.display()
        );
    }
    Store::open(&config.server.data_dir).context("cannot open the data directory")
}

fn timestamp(text: &Option<String>, name: &str) -> Result<Option<String>> {
    text.as_deref()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map(signoff_core::audit::timestamp)
                .with_context(|| {
                    format!("--{name} `{t}` must be RFC 3339, like 2026-01-31T00:00:00Z")
                })
        })
        .transpose()
}

pub async fn run(config_path: Option<PathBuf>, c: Command) -> Result<ExitCode> {
    match c {
        Command::Verify {
            data_dir,
            public_key,
        } => {
            let store = open(config_path.as_deref(), data_dir.as_deref())?;
            let started = Instant::now();
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} verifying: {msg} events [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            let b = bar.clone();
            let report = store
                .read(move |c| {
                    signoff_store::verify(c, public_key.as_deref(), |n| {
                        b.set_message(n.to_string())
                    })
                })
                .await?;
            bar.finish_and_clear();
            store.shutdown();
            match &report.problem {
                None => {
                    println!(
                        "ok: {} events, {} signed checkpoints, chain head #{} {} ({:.2}s)",
                        report.events,
                        report.checkpoints,
                        report.head.as_ref().map(|h| h.0).unwrap_or(0),
                        report.head.as_ref().map(|h| &h.1[..16]).unwrap_or("-"),
                        started.elapsed().as_secs_f64()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(p) => {
                    println!("BROKEN: {p}");
                    println!("{} events verified before the break", report.events);
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Export {
            data_dir,
            format,
            since,
            until,
            output,
        } => {
            if format != "jsonl" && format != "csv" {
                bail!("--format is `jsonl` or `csv`, not `{format}`");
            }
            let store = open(config_path.as_deref(), data_dir.as_deref())?;
            let filter = AuditFilter {
                since: timestamp(&since, "since")?,
                until: timestamp(&until, "until")?,
                ..Default::default()
            };
            let sink: Box<dyn Write + Send> = match &output {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create `{}`", p.display()))?,
                ),
                None => Box::new(std::io::stdout()),
            };
            let count = store
                .read(move |c| export(c, &filter, &format, sink))
                .await?;
            store.shutdown();
            eprintln!("exported {count} events");
            Ok(ExitCode::SUCCESS)
        }
    }
}

const CSV_HEADER: [&str; 16] = [
    "seq",
    "id",
    "at",
    "kind",
    "actor",
    "on_behalf_of",
    "target",
    "action_id",
    "approval_id",
    "fingerprint",
    "reason",
    "payload",
    "details",
    "trace_id",
    "prev_hash",
    "hash",
];

fn export(
    c: &signoff_store::Connection,
    filter: &AuditFilter,
    format: &str,
    sink: Box<dyn Write + Send>,
) -> Result<u64, signoff_store::StoreError> {
    let io = |e: std::io::Error| signoff_store::StoreError::Rejected(format!("write failed: {e}"));
    let mut count = 0u64;
    let mut failure = None;
    if format == "csv" {
        let mut w = csv::Writer::from_writer(sink);
        w.write_record(CSV_HEADER).map_err(|e| io(e.into()))?;
        signoff_store::read::scan(c, filter, |e| {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            let row = [
                e.seq.to_string(),
                e.id.to_string(),
                e.at.clone(),
                e.kind.to_string(),
                e.actor.clone(),
                opt(&e.on_behalf_of),
                opt(&e.target),
                e.action_id.map(|u| u.to_string()).unwrap_or_default(),
                e.approval_id.map(|u| u.to_string()).unwrap_or_default(),
                opt(&e.fingerprint),
                opt(&e.reason),
                signoff_core::canonical::to_string(&e.payload),
                signoff_core::canonical::to_string(&e.details),
                opt(&e.trace_id),
                e.prev_hash.clone(),
                e.hash.clone(),
            ];
            if let Err(err) = w.write_record(&row) {
                failure = Some(err.to_string());
                return false;
            }
            count += 1;
            true
        })?;
        w.flush().map_err(io)?;
    } else {
        let mut w = std::io::BufWriter::new(sink);
        signoff_store::read::scan(c, filter, |e| {
            let line = serde_json::to_string(e).unwrap_or_default();
            if let Err(err) = writeln!(w, "{line}") {
                failure = Some(err.to_string());
                return false;
            }
            count += 1;
            true
        })?;
        w.flush().map_err(io)?;
    }
    match failure {
        Some(f) => Err(signoff_store::StoreError::Rejected(format!(
            "export stopped: {f}"
        ))),
        None => Ok(count),
    }
}
