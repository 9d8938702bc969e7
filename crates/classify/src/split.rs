//! Splits a PostgreSQL query string into its statements, as the server does,
//! so that a front door can decide each statement of a multi-statement query.
//!
//! A small lexer rather than the parser: it must also split what `sqlparser`
//! rejects (each piece is then classified on its own, as `unknown` if need be),
//! and it runs on every query.

use std::borrow::Cow;

/// The statements of `sql`, trimmed, without empty ones (`;;`, comments only).
/// Every byte of `sql` outside the returned slices is whitespace, a comment or
/// a separating `;`.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // Parentheses: `CREATE RULE … DO (a; b)` keeps its `;` inside.
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                let escapes =
                    i > 0 && matches!(bytes[i - 1], b'E' | b'e') && !ident_before(bytes, i - 1);
                i = skip_quoted(bytes, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = memchr_or_end(b'\n', bytes, i);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'$' => i = skip_dollar_quoted(bytes, i),
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b';' if depth == 0 => {
                push_statement(&mut out, sql, start, i);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push_statement(&mut out, sql, start, bytes.len());
    out
}

/// `sql` with every digit of its numeric literals (and `$n` parameter
/// numbers) turned into `0`, so statements that differ only in numbers share
/// a key: `WHERE aid = 42` and `WHERE aid = 7` have one shape.
///
/// INVARIANT: only digits change, and only digits the server reads as part
/// of a number: never inside identifiers (`t1`), quoted identifiers,
/// strings, dollar-quoted bodies or comments. Replacing a digit by a digit
/// never changes a character's class, so two statements with one shape
/// tokenize alike and differ only in numeric values, which classification
/// never records.
pub fn literal_shape(sql: &str) -> Cow<'_, str> {
    shape_with(sql, b'0')
}

fn shape_with(sql: &str, fill: u8) -> Cow<'_, str> {
    let bytes = sql.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                let escapes =
                    i > 0 && matches!(bytes[i - 1], b'E' | b'e') && !ident_before(bytes, i - 1);
                i = skip_quoted(bytes, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = memchr_or_end(b'\n', bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'$' => i = skip_dollar_quoted(bytes, i),
            b'0'..=b'9' if !word_before(bytes, i) => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(bytes.len(), |p| i + p);
                let buf = out.get_or_insert_with(|| bytes.to_vec());
                buf[i..end].fill(fill);
                i = end;
            }
            _ => i += 1,
        }
    }
    match out {
        // INVARIANT: ASCII digits replaced by ASCII digits keep the UTF-8 valid.
        Some(buf) => Cow::Owned(String::from_utf8(buf).unwrap_or_else(|_| sql.to_owned())),
        None => Cow::Borrowed(sql),
    }
}

fn push_statement<'a>(out: &mut Vec<&'a str>, sql: &'a str, start: usize, end: usize) {
    let piece = sql[start..end].trim();
    if !is_blank(piece) {
        out.push(piece);
    }
}

/// Whitespace and comments only.
fn is_blank(piece: &str) -> bool {
    let bytes = piece.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b if b.is_ascii_whitespace() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = memchr_or_end(b'\n', bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            _ => return false,
        }
    }
    true
}

/// Whether a digit at `i` would continue a word: an identifier (which may
/// hold `$` and any non-ASCII letter) or a number's exponent (`1e10`).
fn word_before(bytes: &[u8], i: usize) -> bool {
    // `$` continues a word it follows (`a$1`) but starts a parameter (`$1`).
    let mut j = i;
    while j > 0 && bytes[j - 1] == b'$' {
        j -= 1;
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
    j > 0 && word(bytes[j - 1])
}

fn ident_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
}

fn memchr_or_end(needle: u8, bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == needle)
        .map_or(bytes.len(), |p| from + p)
}

/// Past the closing quote; a doubled quote is part of the text.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash_escapes => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Block comments nest in PostgreSQL.
fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `$tag$ … $tag$`; a `$` that does not open a tag (`$1`) is skipped alone.
fn skip_dollar_quoted(bytes: &[u8], open: usize) -> usize {
    if ident_before(bytes, open) {
        return open + 1;
    }
    let mut end = open + 1;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    let tag_is_valid =
        bytes.get(end) == Some(&b'$') && !bytes.get(open + 1).is_some_and(|b| b.is_ascii_digit());
    if !tag_is_valid {
        return open + 1;
    }
    let tag = &bytes[open..=end];
    let body = end + 1;
    // memmem is linear in the haystack whatever the tag's length.
    memchr::memmem::find(&bytes[body..], tag).map_or(bytes.len(), |p| body + p + tag.len())
}

#[cfg(test)]
mod tests {
    use super::{literal_shape, shape_with, split_statements};

    /// Every SQL case, with its numbers changed: classification (effects and
    /// facts) must not move, since the PostgreSQL front door caches
    /// classifications by shape.
    #[test]
    fn numbers_never_change_a_classification() {
        #[derive(serde::Deserialize)]
        struct Case {
            input: String,
        }
        #[derive(serde::Deserialize)]
        struct File {
            case: Vec<Case>,
        }
        let text = std::fs::read_to_string(format!(
            "{}/tests/cases/sql.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let file: File = toml::from_str(&text).unwrap();
        let extra = [
            "SELECT * FROM t1 WHERE a = 10 LIMIT 5 OFFSET 2",
            "DELETE FROM orders WHERE id IN (1, 2, 3)",
            "UPDATE t SET n = n + 1 WHERE id = $1",
            "SELECT pg_sleep(10), setval('s', 42)",
            "COPY (SELECT 1) TO PROGRAM 'cat > /tmp/x1'",
            "SELECT é1, t0 FROM x$1 WHERE y = 3",
        ];
        let mut checked = 0;
        for sql in file.case.iter().map(|c| c.input.as_str()).chain(extra) {
            let other = shape_with(sql, b'7');
            if other == sql {
                continue;
            }
            assert_eq!(
                literal_shape(&other),
                literal_shape(sql),
                "{sql} vs {other}"
            );
            let (a, b) = (crate::classify_sql(sql), crate::classify_sql(&other));
            assert_eq!(a.effects, b.effects, "{sql} vs {other}");
            assert_eq!(a.facts, b.facts, "{sql} vs {other}");
            if !a.is_unknown() {
                assert_eq!(a.summary, b.summary, "{sql} vs {other}");
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} cases had numbers");
    }

    #[test]
    fn shapes_replace_numbers_only() {
        let cases: &[(&str, &str)] = &[
            (
                "SELECT abalance FROM pgbench_accounts WHERE aid = 81234;",
                "SELECT abalance FROM pgbench_accounts WHERE aid = 00000;",
            ),
            ("SELECT 1.5e10, -3", "SELECT 0.0e10, -0"),
            (
                "SELECT * FROM t1 JOIN t2 ON t1.a2 = t2.b3",
                "SELECT * FROM t1 JOIN t2 ON t1.a2 = t2.b3",
            ),
            (
                "SELECT \"1col\", '42', E'\\'7', $$ 9 $$, $q1$ 8 $q1$ -- 5\n/* 6 */",
                "SELECT \"1col\", '42', E'\\'7', $$ 9 $$, $q1$ 8 $q1$ -- 5\n/* 6 */",
            ),
            ("SELECT $1, $12 FROM a$1", "SELECT $0, $00 FROM a$1"),
            (
                "SELECT x::int4, y::numeric(10,2)",
                "SELECT x::int4, y::numeric(00,0)",
            ),
            ("SELECT 'it''s 3', 4", "SELECT 'it''s 3', 0"),
            ("SELECT é1, 2é, x$1", "SELECT é1, 0é, x$1"),
        ];
        for (sql, shape) in cases {
            assert_eq!(literal_shape(sql), *shape, "{sql}");
        }
    }

    #[test]
    fn splits_like_the_server() {
        let cases: &[(&str, &[&str])] = &[
            ("SELECT 1", &["SELECT 1"]),
            ("SELECT 1; DELETE FROM t", &["SELECT 1", "DELETE FROM t"]),
            ("SELECT 1;;  ; -- only a comment\n", &["SELECT 1"]),
            ("", &[]),
            ("/* a; /* nested; */ b; */", &[]),
            ("SELECT 'a;b'; SELECT 2", &["SELECT 'a;b'", "SELECT 2"]),
            ("SELECT 'it''s;'; x", &["SELECT 'it''s;'", "x"]),
            (r"SELECT E'\';'; x", &[r"SELECT E'\';'", "x"]),
            (r"SELECT 'a\'; x", &[r"SELECT 'a\'", "x"]),
            ("SELECT \"a;b\" FROM t", &["SELECT \"a;b\" FROM t"]),
            (
                "DO $$ BEGIN DELETE FROM t; END $$; SELECT 1",
                &["DO $$ BEGIN DELETE FROM t; END $$", "SELECT 1"],
            ),
            (
                "SELECT $fn$ ; $x$ ; $fn$; y",
                &["SELECT $fn$ ; $x$ ; $fn$", "y"],
            ),
            ("SELECT $1; SELECT $2", &["SELECT $1", "SELECT $2"]),
            ("SELECT a$b; c", &["SELECT a$b", "c"]),
            (
                "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2); z",
                &[
                    "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2)",
                    "z",
                ],
            ),
            (
                "SELECT 1 -- c; not a split\n; SELECT 2",
                &["SELECT 1 -- c; not a split", "SELECT 2"],
            ),
            (
                "SELECT 'unterminated; DROP TABLE t",
                &["SELECT 'unterminated; DROP TABLE t"],
            ),
            (
                "SELECT $a$ unterminated; x",
                &["SELECT $a$ unterminated; x"],
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(&split_statements(sql), want, "{sql:?}");
        }
    }

    #[test]
    fn hostile_input_is_linear_and_total() {
        let inputs = [
            "'".repeat(100_000),
            "$a".repeat(50_000),
            "/*".repeat(50_000),
            format!("${}$ {}", "a".repeat(50_000), "$a".repeat(50_000)),
            "(".repeat(100_000) + ";",
            ";".repeat(100_000),
        ];
        for input in inputs {
            let pieces = split_statements(&input);
            assert!(pieces.len() <= 1, "{}", pieces.len());
        }
    }
}
