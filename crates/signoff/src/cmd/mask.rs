//! `signoff mask`: stdin to stdout, line by line, PII and secrets masked.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use signoff_mask::{Detector, LineMasker, MaskConfig, Masker, Style};

#[derive(clap::Args)]
#[command(after_help = "Example: tail -f app.log | signoff mask --report")]
pub struct Args {
    /// redact (`[EMAIL]`), partial (keep the last 4) or hash (keyed, joinable).
    #[arg(long, default_value = "redact")]
    style: String,
    /// The key for `--style hash` (16+ bytes).
    #[arg(long, env = "SIGNOFF_MASK_KEY", hide_env_values = true)]
    hash_key: Option<String>,
    /// Treat each line as a JSON document and mask its values, keeping it valid JSON.
    #[arg(long)]
    json: bool,
    /// Print counts per detector to stderr at the end.
    #[arg(long)]
    report: bool,
    /// Detectors to turn off, comma-separated (e.g. `ipv4,ipv6`).
    #[arg(long, value_delimiter = ',')]
    disable: Vec<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let style = match args.style.as_str() {
        "redact" => Style::Redact,
        "partial" => Style::Partial,
        "hash" => Style::Hash,
        other => bail!("--style is redact, partial or hash, not `{other}`"),
    };
    let mut detectors = Detector::BUILT_IN.to_vec();
    for name in &args.disable {
        let d = Detector::parse(name).with_context(|| {
            let all: Vec<String> = Detector::BUILT_IN.iter().map(|d| d.to_string()).collect();
            format!("unknown detector `{name}`; known: {}", all.join(", "))
        })?;
        detectors.retain(|x| *x != d);
    }
    let masker = Masker::new(&MaskConfig {
        detectors,
        style,
        hash_key: args.hash_key.unwrap_or_default().into_bytes(),
        ..Default::default()
    })
    .context("set SIGNOFF_MASK_KEY (or --hash-key) to a secret of 16 or more bytes")?;
    let mut lines = LineMasker::new(&masker, args.json);
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut buf = Vec::new();
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, stdin);
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .context("cannot read stdin")?
            == 0
        {
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let out = lines.push(line);
        write_lines(&mut stdout, &out)?;
        // Flush when no more input is buffered: a pipeline (`tail -f`) sees each
        // line at once, a file is written in large blocks.
        if reader.buffer().is_empty() {
            stdout.flush().context("cannot write stdout")?;
        }
    }
    let rest = lines.finish();
    write_lines(&mut stdout, &rest)?;
    stdout.flush().context("cannot write stdout")?;
    if args.report {
        let mut total = 0;
        for (detector, n) in &lines.report {
            eprintln!("{detector:<20} {n}");
            total += n;
        }
        eprintln!("{:<20} {total}", "total");
    }
    Ok(ExitCode::SUCCESS)
}

fn write_lines(out: &mut impl Write, lines: &[String]) -> Result<()> {
    for l in lines {
        writeln!(out, "{l}").context("cannot write stdout")?;
    }
    Ok(())
}
