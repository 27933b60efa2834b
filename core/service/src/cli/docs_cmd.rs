//! `ringlog completions SHELL` and `ringlog man`: generated from the same clap
//! definition as the parser, so they never disagree with it.

use std::path::PathBuf;

use clap::CommandFactory;

use super::{Cli, Result};

pub(super) fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "ringlog", &mut std::io::stdout().lock());
    Ok(())
}

pub(super) fn man(dir: Option<PathBuf>) -> Result<()> {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?;
        return Ok(());
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let write = |name: &str, page: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        std::fs::write(&path, out).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("{}", path.display());
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("ringlog-{}", sub.get_name());
        write(&name, sub.clone().name(name.clone()))?;
    }
    write("ringlog", cmd)
}
