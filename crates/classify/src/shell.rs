//! A POSIX-shell tokenizer, just deep enough to find every simple command.
//!
//! It handles quoting, escapes, `;` `&&` `||` `|` `&` lists and pipelines, and
//! redirections. Anything whose effect depends on running code first (command
//! substitution, process substitution, subshells, here-documents, control flow)
//! is an error, so the classifier reports `unknown` instead of guessing.

/// One simple command: its words after quote removal, and its redirections.
#[derive(Debug, Default, PartialEq)]
pub struct SimpleCommand {
    pub words: Vec<String>,
    /// (operator, target) pairs such as (`>`, `/etc/passwd`) or (`2>&`, `1`).
    pub redirects: Vec<(String, String)>,
}

const MAX_INPUT: usize = 64 * 1024;

const CONTROL_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "function", "select", "{", "}", "coproc",
];

pub fn parse(input: &str) -> Result<Vec<SimpleCommand>, String> {
    if input.len() > MAX_INPUT {
        return Err(format!(
            "command is {} bytes; the limit is {MAX_INPUT}",
            input.len()
        ));
    }
    let mut p = Tokenizer {
        chars: input.chars().collect(),
        pos: 0,
        commands: Vec::new(),
        current: SimpleCommand::default(),
        word: None,
        pending_redirect: None,
    };
    p.run()?;
    for cmd in &p.commands {
        if let Some(first) = cmd.words.first() {
            if CONTROL_WORDS.contains(&first.as_str()) {
                return Err(format!("shell control flow (`{first}`) is not classified"));
            }
        }
    }
    Ok(p.commands)
}

struct Tokenizer {
    chars: Vec<char>,
    pos: usize,
    commands: Vec<SimpleCommand>,
    current: SimpleCommand,
    word: Option<String>,
    pending_redirect: Option<String>,
}

impl Tokenizer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn push_char(&mut self, c: char) {
        self.word.get_or_insert_with(String::new).push(c);
    }

    fn end_word(&mut self) {
        if let Some(w) = self.word.take() {
            match self.pending_redirect.take() {
                Some(op) => self.current.redirects.push((op, w)),
                None => self.current.words.push(w),
            }
        }
    }

    fn end_command(&mut self) -> Result<(), String> {
        self.end_word();
        if let Some(op) = &self.pending_redirect {
            return Err(format!("redirection `{op}` has no target"));
        }
        let cmd = std::mem::take(&mut self.current);
        if !cmd.words.is_empty() || !cmd.redirects.is_empty() {
            self.commands.push(cmd);
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                ' ' | '\t' => self.end_word(),
                '\n' | ';' => self.end_command()?,
                '&' => match self.peek(0) {
                    Some('&') => {
                        self.pos += 1;
                        self.end_command()?;
                    }
                    Some('>') => {
                        self.pos += 1;
                        let op = if self.peek(0) == Some('>') {
                            self.pos += 1;
                            "&>>"
                        } else {
                            "&>"
                        };
                        self.start_redirect(op.into());
                    }
                    _ => self.end_command()?,
                },
                '|' => {
                    if matches!(self.peek(0), Some('|') | Some('&')) {
                        self.pos += 1;
                    }
                    self.end_command()?;
                }
                '>' | '<' => self.redirect(c)?,
                '\'' => self.single_quoted()?,
                '"' => self.double_quoted()?,
                '\\' => match self.peek(0) {
                    Some('\n') => self.pos += 1,
                    Some(next) => {
                        self.pos += 1;
                        self.push_char(next);
                    }
                    None => return Err("trailing backslash".into()),
                },
                '`' => return Err("command substitution (backticks) is not classified".into()),
                '$' => self.dollar()?,
                '(' | ')' => return Err("subshells and grouping are not classified".into()),
                '#' if self.word.is_none() => {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                other => self.push_char(other),
            }
        }
        self.end_command()
    }

    fn start_redirect(&mut self, op: String) {
        self.end_word();
        self.pending_redirect = Some(op);
    }

    fn redirect(&mut self, c: char) -> Result<(), String> {
        if self.peek(0) == Some('(') {
            return Err("process substitution is not classified".into());
        }
        // A word of digits right before the operator is a file descriptor.
        let mut op = match self.word.take() {
            Some(w) if w.chars().all(|d| d.is_ascii_digit()) => w,
            Some(w) => {
                self.word = Some(w);
                self.end_word();
                String::new()
            }
            None => String::new(),
        };
        op.push(c);
        if c == '<' && self.peek(0) == Some('<') {
            return Err("here-documents are not classified".into());
        }
        if let Some(next @ ('>' | '&' | '|')) = self.peek(0) {
            self.pos += 1;
            op.push(next);
        }
        self.start_redirect(op);
        Ok(())
    }

    fn single_quoted(&mut self) -> Result<(), String> {
        self.word.get_or_insert_with(String::new);
        loop {
            match self.peek(0) {
                Some('\'') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) => {
                    self.pos += 1;
                    self.push_char(c);
                }
                None => return Err("unterminated single quote".into()),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<(), String> {
        self.word.get_or_insert_with(String::new);
        loop {
            let Some(c) = self.peek(0) else {
                return Err("unterminated double quote".into());
            };
            self.pos += 1;
            match c {
                '"' => return Ok(()),
                '\\' => match self.peek(0) {
                    Some(n @ ('$' | '`' | '"' | '\\')) => {
                        self.pos += 1;
                        self.push_char(n);
                    }
                    Some('\n') => self.pos += 1,
                    _ => self.push_char('\\'),
                },
                '`' => return Err("command substitution (backticks) is not classified".into()),
                '$' => self.dollar()?,
                other => self.push_char(other),
            }
        }
    }

    /// `$(…)` and `$((…))` run code; `$VAR` and `${VAR}` are kept as written,
    /// since their values are unknown here but cannot run anything.
    fn dollar(&mut self) -> Result<(), String> {
        match self.peek(0) {
            Some('(') => Err("command substitution `$(…)` is not classified".into()),
            Some('{') => {
                self.push_char('$');
                while let Some(c) = self.peek(0) {
                    self.pos += 1;
                    self.push_char(c);
                    if c == '}' {
                        return Ok(());
                    }
                    if c == '$' && self.peek(0) == Some('(') {
                        return Err("command substitution `$(…)` is not classified".into());
                    }
                }
                Err("unterminated `${`".into())
            }
            _ => {
                self.push_char('$');
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(input: &str) -> Vec<Vec<String>> {
        parse(input).unwrap().into_iter().map(|c| c.words).collect()
    }

    #[test]
    fn splits_lists_and_pipelines() {
        assert_eq!(
            words("a 1 && b 2 || c; d | e |& f & g"),
            vec![
                vec!["a", "1"],
                vec!["b", "2"],
                vec!["c"],
                vec!["d"],
                vec!["e"],
                vec!["f"],
                vec!["g"]
            ]
        );
    }

    #[test]
    fn removes_quotes_and_escapes() {
        assert_eq!(
            words(r#"echo 'a b' "c \"d\" $HOME" e\ f"#),
            vec![vec!["echo", "a b", "c \"d\" $HOME", "e f"]]
        );
    }

    #[test]
    fn separates_redirections() {
        let cmds = parse("cat a > /tmp/x 2>&1 <in").unwrap();
        assert_eq!(cmds[0].words, vec!["cat", "a"]);
        assert_eq!(
            cmds[0].redirects,
            vec![
                (">".into(), "/tmp/x".into()),
                ("2>&".into(), "1".into()),
                ("<".into(), "in".into())
            ]
        );
    }

    #[test]
    fn refuses_what_runs_code_first() {
        for bad in [
            "echo $(rm -rf /)",
            "echo `id`",
            "diff <(a) b",
            "(cd x; rm y)",
            "cat <<EOF",
            "if true; then rm x; fi",
            "echo 'open",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
