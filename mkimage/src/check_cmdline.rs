//! `diskless-mkimage check-cmdline`: lint a kernel command line, or every
//! boot line of a pxelinux config, for NFS-root boots against our server.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use diskless_common::cmdline::lint::{lint, Finding, Server};
use diskless_common::import::pxelinux;

#[derive(clap::Args)]
#[command(after_help = "\
Each problem is printed as WHERE: error|warning: what is wrong, followed by
`fix:` with the corrected argument; the whole corrected line comes last.

Exit status: 0 clean, 1 problems found, 2 unreadable input.

Examples:
  diskless-mkimage check-cmdline \"root=/dev/nfs nfsroot=172.16.1.1:/srv/root,vers=3,tcp ip=dhcp\"
  diskless-mkimage check-cmdline --pxelinux /tftpboot/pxelinux.cfg/01-00-18-f3-70-91-b9
  diskless-mkimage check-cmdline \"$(cat /proc/cmdline)\"")]
pub struct Args {
    /// A pxelinux config file: checks every APPEND/DEFAULT/ONTIMEOUT line and
    /// backslash continuations.
    #[arg(long, value_name = "FILE", conflicts_with = "cmdline")]
    pub pxelinux: Option<PathBuf>,
    /// The kernel command line (several words are joined with spaces).
    #[arg(value_name = "CMDLINE", required_unless_present = "pxelinux")]
    pub cmdline: Vec<String>,
}

fn print(loc: &str, f: &Finding) {
    println!("{loc}: {}: {}\n    fix: {}", f.severity, f.message, f.fix);
}

fn col(line: &str, offset: usize) -> usize {
    line.get(..offset).map_or(offset, |s| s.chars().count()) + 1
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let problems = match &args.pxelinux {
        None => {
            let line = args.cmdline.join(" ");
            let r = lint(&line, Server::default());
            for f in &r.findings {
                print(&format!("cmdline:1:{}", col(&line, f.offset)), f);
            }
            if !r.findings.is_empty() {
                println!("corrected: {}", r.corrected);
            }
            r.findings.len()
        }
        Some(path) => {
            let text = std::fs::read(path)
                .with_context(|| format!("cannot read --pxelinux {}", path.display()))?;
            let text = String::from_utf8(text).with_context(|| {
                format!(
                    "{} is not text (UTF-8); is it a pxelinux config?",
                    path.display()
                )
            })?;
            check_pxelinux(&path.display().to_string(), &text)
        }
    };
    if problems == 0 {
        println!("clean: no problems found");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{problems} problem{} found",
            if problems == 1 { "" } else { "s" }
        );
        Ok(ExitCode::from(1))
    }
}

/// Lints the arguments of every line that carries a kernel command line.
fn check_pxelinux(name: &str, text: &str) -> usize {
    let mut n = 0;
    for l in pxelinux::logical_lines(text) {
        let t = l.text.trim_start();
        let lead = l.text.len() - t.len();
        let (kw, rest_at) = match t.find(char::is_whitespace) {
            Some(i) => (t[..i].to_ascii_uppercase(), i),
            None => continue,
        };
        // DEFAULT/ONTIMEOUT take a command: label or kernel, then arguments.
        let skip_first = matches!(kw.as_str(), "DEFAULT" | "ONTIMEOUT");
        if !(skip_first || kw == "APPEND") {
            if !l.continued.is_empty() {
                n += 1;
                let line = l.continued[0];
                println!(
                    "{name}:{line}: error: line ends in `\\`, which pxelinux does not join\n    fix: put the whole directive on one line"
                );
            }
            continue;
        }
        let mut args_at = lead + rest_at;
        let rest = &l.text[args_at..];
        let trimmed = rest.trim_start();
        args_at += rest.len() - trimmed.len();
        let mut args = trimmed;
        if skip_first {
            match args.find(char::is_whitespace) {
                Some(i) => {
                    let after = &args[i..];
                    args_at += i + (after.len() - after.trim_start().len());
                    args = after.trim_start();
                }
                None => continue,
            }
        }
        if let Some(&first) = l.continued.first() {
            n += 1;
            let last = l.continued.last().copied().unwrap_or(first) + 1;
            println!(
                "{name}:{first}: error: {kw} continues with `\\` over lines {}-{last}, but pxelinux does not join lines: the kernel gets only line {}'s text (backslash included) and lines {}-{last} are read as unknown directives\n    fix: put {kw} and all its arguments on line {}",
                l.line, l.line, l.line + 1, l.line
            );
        }
        // Lint the joined arguments without the backslashes already reported.
        let joined = args.replace('\\', "");
        let r = lint(&joined, Server::default());
        for f in &r.findings {
            let at = args_at + byte_in_original(args, f.offset);
            let (line, c) = l.locate(at);
            print(&format!("{name}:{line}:{c}"), f);
        }
        n += r.findings.len();
        if !r.findings.is_empty() || !l.continued.is_empty() {
            let head = &l.text[lead..args_at];
            println!("corrected line {}: {}{}", l.line, head, r.corrected);
        }
    }
    n
}

/// Maps an offset in `s` with backslashes removed back to `s`.
fn byte_in_original(s: &str, offset: usize) -> usize {
    let mut seen = 0;
    for (i, ch) in s.char_indices() {
        if ch == '\\' {
            continue;
        }
        if seen == offset {
            return i;
        }
        seen += ch.len_utf8();
    }
    s.len()
}
