//! `signoff mask`: stdin to stdout, line by line, PII and secrets masked.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use signoff_mask::{Detector, LineFormat, LineMasker, MaskConfig, Masker, Style};

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
    let format = match args.json {
        true => LineFormat::Json,
        false => LineFormat::Text,
    };
    let mut lines = LineMasker::new(&masker, format);
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, std::io::stdin().lock());
    let mut stdout = std::io::stdout().lock();
    let mut out = String::new();
    // The start of a line whose newline has not arrived yet.
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let chunk = reader.fill_buf().context("cannot read stdin")?;
        let read = chunk.len();
        if read == 0 {
            break;
        }
        // Whole lines are masked as soon as they are read, so a pipeline
        // (`tail -f`) sees each line at once; a file goes in large blocks.
        let whole = memchr::memrchr(b'\n', chunk).map_or(0, |end| end + 1);
        if partial.is_empty() {
            mask_lines(&mut lines, &chunk[..whole], &mut out);
        } else if whole > 0 {
            partial.extend_from_slice(&chunk[..whole]);
            mask_lines(&mut lines, &partial, &mut out);
            partial.clear();
        }
        partial.extend_from_slice(&chunk[whole..]);
        reader.consume(read);
        if partial.len() > MAX_LINE {
            bail!(
                "a line is longer than {} MiB; split the input into lines",
                MAX_LINE >> 20
            );
        }
        write_out(&mut stdout, &mut out)?;
    }
    if !partial.is_empty() {
        mask_lines(&mut lines, &partial, &mut out);
    }
    lines.finish(&mut out);
    write_out(&mut stdout, &mut out)?;
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

/// Lines are masked whole, so one is held in memory; past this it is refused.
const MAX_LINE: usize = 64 << 20;

/// Masks `bytes`, whole lines, into `out`; invalid UTF-8 becomes U+FFFD.
fn mask_lines(lines: &mut LineMasker<'_>, bytes: &[u8], out: &mut String) {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    for line in text.split_terminator('\n') {
        lines.push(line.strip_suffix('\r').unwrap_or(line), out);
    }
}

fn write_out(stdout: &mut impl Write, out: &mut String) -> Result<()> {
    stdout
        .write_all(out.as_bytes())
        .context("cannot write stdout")?;
    out.clear();
    stdout.flush().context("cannot write stdout")
}
