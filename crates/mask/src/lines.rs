//! Line-by-line masking for pipelines (`tail -f app.log | signoff mask`).
//!
//! Every input line yields exactly one output line. A PEM private key spans
//! lines, so from a `BEGIN … PRIVATE KEY` line the lines are held until the
//! `END` line and masked as one block; if the block never ends (truncated, or
//! longer than the cap), every held line is masked whole rather than let a
//! fragment of a key through.

use crate::{Masker, Report};

/// Lines held for one PEM block at most.
const MAX_BLOCK_LINES: usize = 256;
const PEM_LABEL: &str = "[PRIVATE_KEY]";

/// How each input line is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    /// Plain text.
    Text,
    /// A JSON document whose values are masked, keeping it valid JSON; a line
    /// that is not JSON is masked as text.
    Json,
}

pub struct LineMasker<'m> {
    masker: &'m Masker,
    format: LineFormat,
    held: Vec<String>,
    pub report: Report,
}

impl<'m> LineMasker<'m> {
    pub fn new(masker: &'m Masker, format: LineFormat) -> LineMasker<'m> {
        LineMasker {
            masker,
            format,
            held: Vec::new(),
            report: Report::new(),
        }
    }

    /// Takes one line (without its newline); appends the lines ready to
    /// print to `out`, each ending in `\n`.
    pub fn push(&mut self, line: &str, out: &mut String) {
        if !self.held.is_empty() {
            self.held.push(line.to_owned());
            if is_pem_end(line) {
                self.release_block(out);
            } else if self.held.len() >= MAX_BLOCK_LINES {
                self.withhold_block(out);
            }
            return;
        }
        if is_pem_begin(line) && !is_pem_end(line) {
            self.held.push(line.to_owned());
            return;
        }
        self.one(line, out);
    }

    /// Flushes what is held at end of input.
    pub fn finish(&mut self, out: &mut String) {
        if !self.held.is_empty() {
            self.withhold_block(out);
        }
    }

    fn one(&mut self, line: &str, out: &mut String) {
        if self.format == LineFormat::Json {
            if let Ok(doc) = serde_json::from_str::<serde_json::Value>(line) {
                let masked = self.masker.mask_json_counting(doc, Some(&mut self.report));
                out.push_str(&masked.to_string());
                out.push('\n');
                return;
            }
        }
        out.push_str(&self.masker.mask_counting(line, Some(&mut self.report)));
        out.push('\n');
    }

    fn release_block(&mut self, out: &mut String) {
        let n = self.held.len();
        let block = std::mem::take(&mut self.held).join("\n");
        let masked = self.masker.mask_counting(&block, Some(&mut self.report));
        // INVARIANT: one output line per input line.
        let mut lines = masked.split('\n');
        for _ in 0..n {
            out.push_str(lines.next().unwrap_or(PEM_LABEL));
            out.push('\n');
        }
    }

    fn withhold_block(&mut self, out: &mut String) {
        let n = self.held.len();
        self.held.clear();
        *self.report.entry("private_key".into()).or_default() += 1;
        for _ in 0..n {
            out.push_str(PEM_LABEL);
            out.push('\n');
        }
    }
}

fn is_pem_begin(line: &str) -> bool {
    line.contains("-----BEGIN ") && line.contains("PRIVATE KEY-----")
}

fn is_pem_end(line: &str) -> bool {
    line.contains("-----END ") && line.contains("PRIVATE KEY-----")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MaskConfig;

    fn run(input: &[&str], format: LineFormat) -> Vec<String> {
        let m = Masker::new(&MaskConfig::default()).unwrap();
        let mut lm = LineMasker::new(&m, format);
        let mut out = String::new();
        for l in input {
            lm.push(l, &mut out);
        }
        lm.finish(&mut out);
        out.lines().map(str::to_owned).collect()
    }

    #[test]
    fn one_line_out_per_line_in_with_pem_blocks_masked_whole() {
        let input = [
            "user alice@example.com",
            "-----BEGIN RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA",
            "q1w2e3r4",
            "-----END RSA PRIVATE KEY-----",
            "done",
        ];
        let out = run(&input, LineFormat::Text);
        assert_eq!(out.len(), input.len());
        assert_eq!(out[0], "user [EMAIL]");
        assert!(
            out[1..5].iter().all(|l| l.contains("[PRIVATE_KEY]")),
            "{out:?}"
        );
        assert!(!out.join("\n").contains("MIIEow"));
        assert_eq!(out[5], "done");
    }

    #[test]
    fn an_unterminated_key_is_withheld_whole() {
        let input = [
            "-----BEGIN PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA",
            "q1w2e3r4",
        ];
        assert_eq!(run(&input, LineFormat::Text), vec!["[PRIVATE_KEY]"; 3]);
    }

    #[test]
    fn json_lines_stay_json() {
        let out = run(
            &[r#"{"email":"a@b.io","n":1}"#, "not json a@b.io"],
            LineFormat::Json,
        );
        let v: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(v["email"], "[EMAIL]");
        assert_eq!(out[1], "not json [EMAIL]");
    }
}
