//! Man pages and shell completions generated from a binary's clap
//! definition, so documentation never drifts from the flags. Each binary
//! adds two hidden subcommands and calls [`run`]:
//!
//! ```ignore
//! #[command(hide = true)] GenerateMan(diskless_common::cli::ManArgs),
//! #[command(hide = true)] Completions(diskless_common::cli::CompletionArgs),
//! ...
//! Command::GenerateMan(a) => diskless_common::cli::man(Cli::command(), &a),
//! Command::Completions(a) => diskless_common::cli::completions(Cli::command(), &a),
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use clap_complete::Shell;

/// `generate-man DIR`: write `NAME.1` and `NAME-SUBCOMMAND.1` pages.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Directory for the pages (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `completions SHELL`: print a completion script on stdout.
#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

/// Writes one page for the binary and one per visible subcommand; returns
/// the files written.
pub fn write_man_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd;
    cmd.build();
    let name = cmd.get_name().to_string();
    let mut written = Vec::new();
    let mut page = |c: clap::Command, file: String| -> std::io::Result<()> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).render(&mut buf)?;
        let path = dir.join(file);
        std::fs::write(&path, buf)?;
        written.push(path);
        Ok(())
    };
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let full = format!("{name}-{}", sub.get_name());
        let sub = sub
            .clone()
            .display_name(full.clone())
            .bin_name(full.clone());
        page(sub, format!("{full}.1"))?;
    }
    page(cmd, format!("{name}.1"))?;
    Ok(written)
}

pub fn write_completions(cmd: clap::Command, shell: Shell, out: &mut dyn Write) {
    let mut cmd = cmd;
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Handler for the hidden `generate-man` subcommand.
pub fn man(cmd: clap::Command, args: &ManArgs) -> anyhow_free::Result {
    match write_man_pages(cmd, &args.dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(format!(
            "cannot write man pages to {}: {e}; pass a writable directory",
            args.dir.display()
        )),
    }
}

/// Handler for the hidden `completions` subcommand.
pub fn completions(cmd: clap::Command, args: &CompletionArgs) -> anyhow_free::Result {
    // Generate into memory: clap_complete panics on write errors, and a
    // closed pipe (`| head`) is not worth a panic.
    let mut buf = Vec::new();
    write_completions(cmd, args.shell, &mut buf);
    match std::io::stdout().write_all(&buf) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(format!("cannot write the completion script: {e}")),
    }
}

/// common is a library without anyhow; binaries wrap the message.
pub mod anyhow_free {
    pub type Result = std::result::Result<std::process::ExitCode, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> clap::Command {
        clap::Command::new("demo")
            .about("Demo tool")
            .subcommand(clap::Command::new("check").about("Check things"))
            .subcommand(clap::Command::new("secret").hide(true))
    }

    #[test]
    fn pages_for_binary_and_visible_subcommands() {
        let dir = std::env::temp_dir().join(format!("diskless-man-{}", std::process::id()));
        let files = write_man_pages(demo(), &dir).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["demo-check.1", "demo.1"]);
        let page = std::fs::read_to_string(dir.join("demo-check.1")).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
        assert!(page.contains("demo\\-check"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bash_completion_names_subcommands() {
        let mut out = Vec::new();
        write_completions(demo(), Shell::Bash, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("_demo()"));
        assert!(s.contains("check"));
    }
}
