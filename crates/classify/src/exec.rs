//! Commands: programs, subcommands and flags, seen through wrappers.

use std::collections::BTreeSet;

use signoff_core::classification::{ExecCommand, ExecFacts, Facts};
use signoff_core::{Classification, Effect};

use crate::shell;

/// How deep `sh -c "sh -c '…'"` may nest before the classifier gives up.
const MAX_DEPTH: usize = 8;

pub fn classify_shell(command: &str) -> Classification {
    let mut c = Collector::default();
    c.shell_string(command, &[], 0);
    c.finish()
}

pub fn classify_argv(argv: &[String]) -> Classification {
    let mut c = Collector::default();
    c.argv(argv, Vec::new(), 0);
    c.finish()
}

#[derive(Default)]
struct Collector {
    effects: BTreeSet<Effect>,
    facts: ExecFacts,
}

impl Collector {
    fn fail(&mut self, why: String) {
        self.effects.insert(Effect::Unknown);
        if self.facts.parse_error.is_none() {
            self.facts.parse_error = Some(why);
        }
    }

    fn shell_string(&mut self, text: &str, wrappers: &[String], depth: usize) {
        if depth > MAX_DEPTH {
            return self.fail("shell commands nest too deeply".into());
        }
        match shell::parse(text) {
            Ok(commands) => {
                for cmd in commands {
                    for (op, target) in &cmd.redirects {
                        if op.contains('>') && !op.contains('&') && target != "/dev/null" {
                            self.effects.insert(Effect::Write);
                        }
                    }
                    self.argv(&cmd.words, wrappers.to_vec(), depth + 1);
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn argv(&mut self, argv: &[String], mut wrappers: Vec<String>, depth: usize) {
        if depth > MAX_DEPTH {
            return self.fail("wrappers nest too deeply".into());
        }
        let mut rest = argv;
        // Leading `NAME=value` assignments only set the environment.
        while rest.first().is_some_and(|w| is_assignment(w)) {
            rest = &rest[1..];
        }
        let Some(first) = rest.first() else { return };
        let program = basename(first);
        if program.starts_with('$') {
            return self.fail(format!("the program `{first}` is a variable"));
        }
        let args = &rest[1..];
        match program.as_str() {
            "sudo" | "doas" => {
                self.effects.insert(Effect::Privilege);
                wrappers.push(program.clone());
                let inner = skip_options(
                    args,
                    &[
                        "-u", "-g", "-C", "-h", "-p", "-D", "-r", "-t", "-U", "--user", "--group",
                    ],
                );
                if inner.is_empty() {
                    // `sudo -i` / `sudo -s`: an interactive root shell.
                    self.push_command(
                        program,
                        args,
                        wrappers,
                        &[Effect::Privilege, Effect::Opaque],
                    );
                } else {
                    self.argv(inner, wrappers, depth + 1);
                }
            }
            "env" => {
                if args
                    .iter()
                    .any(|a| a == "-S" || a.starts_with("--split-string"))
                {
                    return self
                        .fail("`env -S` splits its argument like a shell; not classified".into());
                }
                wrappers.push("env".into());
                let mut inner = skip_options(args, &["-u", "--unset", "-C", "--chdir"]);
                while inner.first().is_some_and(|w| is_assignment(w)) {
                    inner = &inner[1..];
                }
                if inner.is_empty() {
                    self.push_command(program, args, wrappers, &[Effect::Read]);
                } else {
                    self.argv(inner, wrappers, depth + 1);
                }
            }
            "timeout" => {
                wrappers.push("timeout".into());
                let inner = skip_options(args, &["-s", "--signal", "-k", "--kill-after"]);
                // The first operand is the duration.
                self.argv(inner.get(1..).unwrap_or(&[]), wrappers, depth + 1);
            }
            "nice" | "ionice" | "nohup" | "stdbuf" | "time" | "command" | "builtin" | "exec" => {
                wrappers.push(program.clone());
                let inner = skip_options(
                    args,
                    &["-n", "--adjustment", "-c", "--class", "-i", "-o", "-e"],
                );
                self.argv(inner, wrappers, depth + 1);
            }
            "xargs" => {
                wrappers.push("xargs".into());
                let inner = skip_options(
                    args,
                    &[
                        "-I",
                        "-n",
                        "-P",
                        "-L",
                        "-d",
                        "-E",
                        "-s",
                        "-a",
                        "--max-args",
                        "--max-procs",
                        "--delimiter",
                        "--arg-file",
                    ],
                );
                if inner.is_empty() {
                    self.push_command("echo".into(), &[], wrappers, &[Effect::Read]);
                } else {
                    self.argv(inner, wrappers, depth + 1);
                }
            }
            "sh" | "bash" | "zsh" | "dash" | "ksh" | "ash" | "fish" => {
                self.shell_program(program, args, wrappers, depth)
            }
            "eval" => {
                wrappers.push("eval".into());
                self.shell_string(&args.join(" "), &wrappers, depth + 1);
            }
            _ => self.program(program, args, wrappers, depth),
        }
    }

    fn shell_program(
        &mut self,
        program: String,
        args: &[String],
        mut wrappers: Vec<String>,
        depth: usize,
    ) {
        // `-c`, `-lc`, `-ec`, `--login -c`: the command string follows the options.
        let mut i = 0;
        let mut has_c = false;
        while let Some(a) = args.get(i) {
            if a == "--" {
                i += 1;
                break;
            }
            if !a.starts_with('-') && !a.starts_with('+') {
                break;
            }
            if !a.starts_with("--") && a.contains('c') {
                has_c = true;
            }
            i += 1;
            if a == "-o" || a == "+o" || a == "-O" {
                i += 1;
            }
        }
        match (has_c, args.get(i)) {
            (true, Some(script)) => {
                wrappers.push(format!("{program} -c"));
                self.shell_string(script, &wrappers, depth + 1);
            }
            (true, None) => self.fail(format!("`{program} -c` has no command")),
            // A script file or stdin: its contents are not visible here.
            (false, _) => self.push_command(program, args, wrappers, &[Effect::Opaque]),
        }
    }

    fn program(&mut self, program: String, args: &[String], wrappers: Vec<String>, depth: usize) {
        let (subcommand, after_sub) = split_subcommand(&program, args);
        // Flags before the subcommand belong to the command too.
        let rest = args;
        let mut effects: Vec<Effect> = effects_of(&program, subcommand.as_deref(), rest).to_vec();
        let flags = flags_of(&program, rest);
        let has = |f: &str| flags.iter().any(|x| x == f);
        match program.as_str() {
            "rm" if has("-r") || has("-R") || has("--recursive") => {
                effects.push(Effect::Destructive)
            }
            "git"
                if subcommand.as_deref() == Some("push")
                    && (has("-f")
                        || has("--force")
                        || has("--force-with-lease")
                        || has("--delete")
                        || has("-d")) =>
            {
                effects.extend([Effect::Delete, Effect::Destructive])
            }
            "git" if subcommand.as_deref() == Some("reset") && has("--hard") => {
                effects.push(Effect::Destructive)
            }
            "git"
                if subcommand.as_deref() == Some("branch")
                    && (has("-D") || has("-d") || has("--delete")) =>
            {
                effects.extend([Effect::Write, Effect::Delete])
            }
            "sed" | "perl"
                if has("-i")
                    || flags
                        .iter()
                        .any(|f| f.starts_with("-i") || f.starts_with("--in-place")) =>
            {
                effects.retain(|e| *e != Effect::Read);
                effects.push(Effect::Write);
            }
            "find" => {
                if has("-delete") {
                    effects.extend([Effect::Delete, Effect::Destructive]);
                }
                if let Some(pos) = rest
                    .iter()
                    .position(|a| a == "-exec" || a == "-execdir" || a == "-ok")
                {
                    let inner: Vec<String> = rest[pos + 1..]
                        .iter()
                        .take_while(|a| *a != ";" && *a != "+")
                        .cloned()
                        .collect();
                    let mut w = wrappers.clone();
                    w.push("find -exec".into());
                    self.argv(&inner, w, depth + 1);
                }
            }
            "curl" => {
                let method = value_of(rest, &["-X", "--request"]).map(|m| m.to_ascii_uppercase());
                let sends = rest.iter().any(|a| {
                    matches!(
                        a.as_str(),
                        "-d" | "--data"
                            | "--data-binary"
                            | "--data-raw"
                            | "--data-urlencode"
                            | "-F"
                            | "--form"
                            | "--json"
                    )
                });
                let uploads = rest.iter().any(|a| a == "-T" || a == "--upload-file")
                    || rest.iter().any(|a| a.starts_with('@') || a.contains("=@"));
                if uploads {
                    effects.push(Effect::Export);
                }
                match method.as_deref() {
                    Some("DELETE") => effects.extend([Effect::Write, Effect::Delete]),
                    Some("GET") | Some("HEAD") | None if !sends && !uploads => {}
                    _ => effects.push(Effect::Write),
                }
            }
            "psql" | "mysql" | "mariadb" | "sqlite3" => {
                let sql = value_of(rest, &["-c", "--command", "-e", "--execute"]).or_else(|| {
                    if program == "sqlite3" {
                        rest.get(1).cloned()
                    } else {
                        None
                    }
                });
                match sql {
                    Some(sql) => effects.extend(crate::sql::classify_sql(&sql).effects),
                    None => effects.push(Effect::Opaque),
                }
            }
            _ => {}
        }
        self.push_command_with(
            ExecCommand {
                program,
                subcommand,
                flags,
                args: after_sub
                    .iter()
                    .filter(|a| !a.starts_with('-'))
                    .cloned()
                    .collect(),
                wrappers,
            },
            &effects,
        );
    }

    fn push_command(
        &mut self,
        program: String,
        args: &[String],
        wrappers: Vec<String>,
        effects: &[Effect],
    ) {
        let flags = flags_of(&program, args);
        self.push_command_with(
            ExecCommand {
                program,
                subcommand: None,
                flags,
                args: args
                    .iter()
                    .filter(|a| !a.starts_with('-'))
                    .cloned()
                    .collect(),
                wrappers,
            },
            effects,
        );
    }

    fn push_command_with(&mut self, cmd: ExecCommand, effects: &[Effect]) {
        self.effects.extend(effects.iter().copied());
        self.facts.commands.push(cmd);
    }

    fn finish(self) -> Classification {
        let mut effects = self.effects;
        if self.facts.commands.is_empty() && self.facts.parse_error.is_none() {
            effects.insert(Effect::Unknown);
        }
        let summary = match &self.facts.parse_error {
            Some(e) => format!("unclassifiable command ({e})"),
            None => self
                .facts
                .commands
                .iter()
                .map(|c| {
                    let mut s = c.command_line();
                    // Flags as written; expansions of a bundle (`-rf` → `-r`, `-f`) are for policy.
                    let written = c.flags.iter().filter(|f| {
                        !(f.len() == 2
                            && c.flags.iter().any(|b| {
                                b.len() > 2 && !b.starts_with("--") && b.contains(&f[1..])
                            }))
                    });
                    for f in written.take(4) {
                        s.push(' ');
                        s.push_str(f);
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(" | "),
        };
        Classification {
            effects,
            summary,
            facts: Facts::Exec(self.facts),
        }
    }
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// Skips leading options; those in `with_value` consume the next word too.
fn skip_options<'a>(args: &'a [String], with_value: &[&str]) -> &'a [String] {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            return &args[i + 1..];
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        i += 1;
        if with_value.contains(&a.as_str()) {
            i += 1;
        }
    }
    args.get(i..).unwrap_or(&[])
}

fn value_of(args: &[String], names: &[&str]) -> Option<String> {
    for (i, a) in args.iter().enumerate() {
        for n in names {
            if a == n {
                return args.get(i + 1).cloned();
            }
            if let Some(v) = a.strip_prefix(&format!("{n}=")) {
                return Some(v.to_owned());
            }
            // `-XDELETE`, `-cSELECT 1`
            if n.len() == 2
                && !n.starts_with("--")
                && a.starts_with(n)
                && a.len() > 2
                && !a.starts_with("--")
            {
                return Some(a[2..].to_owned());
            }
        }
    }
    None
}

/// Programs whose single-dash flags are whole words (`-auto-approve`, `-delete`).
const SINGLE_DASH_LONG: &[&str] = &[
    "terraform",
    "tofu",
    "find",
    "java",
    "go",
    "gcc",
    "clang",
    "openssl",
    "ffmpeg",
];

/// Flags as written, plus bundled short flags expanded (`-rf` → `-r`, `-f`).
fn flags_of(program: &str, args: &[String]) -> Vec<String> {
    let mut flags = Vec::new();
    for a in args {
        if a == "--" {
            break;
        }
        if !a.starts_with('-') || a == "-" {
            continue;
        }
        let flag = a.split_once('=').map(|(f, _)| f).unwrap_or(a);
        flags.push(flag.to_owned());
        let bundle = &flag[1..];
        if !flag.starts_with("--")
            && bundle.len() > 1
            && bundle.len() <= 6
            && bundle.chars().all(|c| c.is_ascii_alphabetic())
            && !SINGLE_DASH_LONG.contains(&program)
        {
            for c in bundle.chars() {
                let f = format!("-{c}");
                if !flags.contains(&f) {
                    flags.push(f);
                }
            }
        }
    }
    flags
}

/// Global options that take a value, per program, so they are not mistaken for
/// the subcommand.
fn global_options(program: &str) -> &'static [&'static str] {
    match program {
        "kubectl" | "oc" => &[
            "-n",
            "--namespace",
            "--context",
            "--kubeconfig",
            "-s",
            "--server",
            "--cluster",
            "--user",
            "--token",
            "-l",
            "--selector",
            "-o",
            "--output",
            "-f",
            "--filename",
            "-c",
            "--container",
        ],
        "helm" => &["-n", "--namespace", "--kube-context", "--kubeconfig"],
        "aws" => &[
            "--region",
            "--profile",
            "--output",
            "--endpoint-url",
            "--query",
            "--ca-bundle",
            "--cli-read-timeout",
        ],
        "gcloud" | "az" => &[
            "--project",
            "--account",
            "--configuration",
            "--subscription",
            "--format",
            "--region",
            "--zone",
        ],
        "git" => &["-C", "-c", "--git-dir", "--work-tree"],
        "docker" | "podman" => &["-H", "--host", "--context", "--config", "-c"],
        "terraform" | "tofu" => &[],
        "systemctl" | "journalctl" => &["-H", "--host", "-M", "--machine"],
        _ => &[],
    }
}

/// How many words make a subcommand (`aws iam attach-role-policy` is two).
fn subcommand_depth(program: &str, first: &str) -> usize {
    match (program, first) {
        ("aws", _) => 2,
        ("gcloud" | "az", _) => 3,
        (
            "kubectl" | "oc",
            "rollout" | "config" | "create" | "set" | "auth" | "certificate" | "apply",
        ) => 2,
        (
            "docker" | "podman",
            "container" | "image" | "volume" | "network" | "system" | "compose" | "builder"
            | "buildx",
        ) => 2,
        ("terraform" | "tofu", "state" | "workspace") => 2,
        ("helm", "repo" | "plugin") => 2,
        ("git", "stash" | "remote" | "worktree") => 2,
        _ => 1,
    }
}

const HAS_SUBCOMMANDS: &[&str] = &[
    "kubectl",
    "oc",
    "helm",
    "aws",
    "gcloud",
    "az",
    "git",
    "docker",
    "podman",
    "terraform",
    "tofu",
    "systemctl",
    "npm",
    "pnpm",
    "yarn",
    "cargo",
    "pip",
    "apt",
    "apt-get",
    "brew",
    "gh",
    "vault",
    "consul",
    "nomad",
    "heroku",
    "flyctl",
    "fly",
    "vercel",
    "kustomize",
    "argocd",
    "pulumi",
    "redis-cli",
    "crontab",
    "service",
    "ip",
    "firewall-cmd",
    "ufw",
];

/// The subcommand words, and the arguments after them.
fn split_subcommand<'a>(program: &str, args: &'a [String]) -> (Option<String>, &'a [String]) {
    if !HAS_SUBCOMMANDS.contains(&program) {
        return (None, args);
    }
    let takes_value = global_options(program);
    let mut i = 0;
    let mut words: Vec<&str> = Vec::new();
    let mut depth = 1;
    while let Some(a) = args.get(i) {
        if a.starts_with('-') {
            i += 1;
            if takes_value.contains(&a.as_str()) {
                i += 1;
            }
            continue;
        }
        if words.is_empty() {
            depth = subcommand_depth(program, a);
        }
        words.push(a);
        i += 1;
        if words.len() >= depth {
            break;
        }
    }
    if words.is_empty() {
        return (None, args);
    }
    (Some(words.join(" ")), args.get(i..).unwrap_or(&[]))
}

use Effect::*;

/// The effects of a program and subcommand. Programs not listed are writes: a
/// program nobody described is not assumed harmless.
fn effects_of(program: &str, sub: Option<&str>, args: &[String]) -> &'static [Effect] {
    let sub = sub.unwrap_or("");
    let first = sub.split(' ').next().unwrap_or("");
    match program {
        "ls" | "cat" | "head" | "tail" | "less" | "more" | "grep" | "egrep" | "fgrep" | "rg"
        | "wc" | "sort" | "uniq" | "cut" | "echo" | "printf" | "pwd" | "whoami" | "id" | "date"
        | "which" | "stat" | "file" | "du" | "df" | "ps" | "top" | "uname" | "hostname" | "jq"
        | "yq" | "diff" | "tree" | "true" | "false" | "test" | "[" | "[[" | "sleep"
        | "basename" | "dirname" | "realpath" | "readlink" | "md5sum" | "sha256sum" | "sha1sum"
        | "xxd" | "hexdump" | "strings" | "nproc" | "free" | "uptime" | "lsof" | "netstat"
        | "ss" | "dig" | "nslookup" | "ping" | "traceroute" | "cd" | "column" | "tr" | "fold"
        | "seq" | "awk" | "sed" | "find" | "curl" | "wget" | "env" | "printenv" | "journalctl"
        | "history" | "type" | "man" | "base64" | "zcat" | "zgrep" | "nl" | "tac" | "comm"
        | "join" | "paste" | "expr" | "bc" | "cmp" | "mkdir" => {
            if program == "mkdir" {
                &[Write]
            } else {
                &[Read]
            }
        }
        "rm" | "rmdir" | "unlink" | "shred" => &[Write, Delete],
        "dd" | "mkfs" | "mkfs.ext4" | "mkfs.xfs" | "fdisk" | "parted" | "wipefs" => {
            &[Write, Delete, Destructive]
        }
        "truncate" => &[Write, Delete, Destructive],
        "kill" | "killall" | "pkill" | "reboot" | "shutdown" | "halt" | "poweroff" => {
            &[Write, Destructive]
        }
        "chmod" | "chown" | "chgrp" | "setfacl" | "passwd" | "useradd" | "usermod" | "userdel"
        | "groupadd" | "groupmod" | "visudo" | "chpasswd" | "su" | "setcap" => &[Write, Privilege],
        "scp" | "rsync" | "sftp" | "nc" | "ncat" | "socat" | "pg_dump" | "pg_dumpall"
        | "mysqldump" | "mongodump" => &[Read, Export],
        "ssh" => &[Opaque],
        "python" | "python3" | "node" | "ruby" | "perl" | "php" | "deno" | "bun" => {
            if args.is_empty() {
                &[Opaque]
            } else {
                &[Opaque, Write]
            }
        }
        "kubectl" | "oc" => match first {
            "get" | "describe" | "logs" | "top" | "explain" | "api-resources" | "api-versions"
            | "version" | "diff" | "cluster-info" | "events" | "wait" => &[Read],
            "auth" => {
                if sub == "auth can-i" || sub == "auth whoami" {
                    &[Read]
                } else {
                    &[Privilege]
                }
            }
            "config" => &[Read],
            "delete" => &[Write, Delete, Destructive],
            "drain" | "cordon" | "taint" => &[Write, Destructive],
            "exec" | "attach" | "debug" | "cp" | "port-forward" | "proxy" | "run" => {
                &[Opaque, Write]
            }
            "create" => {
                if sub.contains("role")
                    || sub.contains("binding")
                    || sub.contains("token")
                    || sub.contains("serviceaccount")
                {
                    &[Write, Privilege]
                } else {
                    &[Write]
                }
            }
            _ => &[Write],
        },
        "helm" => match first {
            "list" | "ls" | "status" | "get" | "history" | "show" | "search" | "template"
            | "lint" | "version" | "diff" => &[Read],
            "uninstall" | "delete" | "del" | "rollback" => &[Write, Delete, Destructive],
            _ => &[Write],
        },
        "terraform" | "tofu" => match first {
            "plan" | "show" | "output" | "validate" | "fmt" | "version" | "providers" | "graph"
            | "init" => &[Read],
            "destroy" => &[Write, Delete, Destructive],
            "apply" => &[Write, Destructive],
            "state" if sub == "state rm" || sub == "state mv" || sub == "state push" => {
                &[Write, Destructive]
            }
            "state" => &[Read],
            _ => &[Write],
        },
        "aws" => {
            let op = sub.split(' ').nth(1).unwrap_or("");
            if op.starts_with("describe")
                || op.starts_with("list")
                || op.starts_with("get")
                || op == "ls"
                || sub == "sts get-caller-identity"
            {
                &[Read]
            } else if first == "iam"
                || first == "organizations"
                || op.contains("policy")
                || op.contains("permission")
            {
                &[Write, Privilege]
            } else if op.starts_with("delete")
                || op.starts_with("terminate")
                || op == "rm"
                || op == "rb"
                || op.starts_with("remove")
            {
                &[Write, Delete, Destructive]
            } else if first == "s3" && (op == "cp" || op == "sync" || op == "mv") {
                &[Write, Export]
            } else {
                &[Write]
            }
        }
        "gcloud" | "az" => {
            if sub.contains("iam") || sub.contains("role") || sub.contains("policy") {
                if sub.contains("list")
                    || sub.contains("describe")
                    || sub.contains("show")
                    || sub.contains("get-iam")
                {
                    &[Read]
                } else {
                    &[Write, Privilege]
                }
            } else if sub.ends_with("list")
                || sub.ends_with("describe")
                || sub.ends_with("show")
                || sub.contains(" get")
            {
                &[Read]
            } else if sub.contains("delete") {
                &[Write, Delete, Destructive]
            } else {
                &[Write]
            }
        }
        "git" => match first {
            "status" | "log" | "diff" | "show" | "branch" | "fetch" | "remote" | "blame"
            | "rev-parse" | "ls-files" | "describe" | "tag" | "grep" | "config" | "shortlog"
            | "reflog" => &[Read],
            "clean" => &[Write, Delete, Destructive],
            _ => &[Write],
        },
        "docker" | "podman" => match first {
            "ps" | "images" | "logs" | "inspect" | "version" | "info" | "stats" | "top"
            | "history" | "search" => &[Read],
            "rm" | "rmi" | "kill" => &[Write, Delete],
            "system" | "volume" | "image" | "container" | "network" | "builder"
                if sub.ends_with("prune") || sub.ends_with(" rm") =>
            {
                &[Write, Delete, Destructive]
            }
            "exec" | "run" => &[Opaque, Write],
            _ => &[Write],
        },
        "systemctl" => match first {
            "status" | "show" | "list-units" | "list-unit-files" | "is-active" | "is-enabled"
            | "cat" => &[Read],
            "stop" | "disable" | "mask" | "kill" | "poweroff" | "reboot" | "halt" => {
                &[Write, Destructive]
            }
            _ => &[Write],
        },
        "crontab" => {
            if args.iter().any(|a| a == "-r") {
                &[Write, Delete, Destructive]
            } else if args.iter().any(|a| a == "-l") {
                &[Read]
            } else {
                &[Write]
            }
        }
        "iptables" | "ip6tables" | "nft" | "ufw" | "firewall-cmd" => &[Write, Privilege],
        "vault" => match first {
            "read" | "list" | "status" | "version" => &[Read, Export],
            "policy" | "token" | "auth" => &[Write, Privilege],
            "delete" => &[Write, Delete],
            _ => &[Write],
        },
        "psql" | "mysql" | "mariadb" | "sqlite3" | "tee" | "cp" | "mv" | "ln" | "touch"
        | "install" | "tar" | "unzip" | "zip" | "gzip" | "gunzip" => &[Write],
        _ => &[Write],
    }
}
