//! Splits a PostgreSQL query string into its statements, as the server does,
//! so that a front door can decide each statement of a multi-statement query.
//!
//! A small lexer rather than the parser: it must also split what `sqlparser`
//! rejects (each piece is then classified on its own, as `unknown` if need be),
//! and it runs on every query.

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
    use super::split_statements;

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
