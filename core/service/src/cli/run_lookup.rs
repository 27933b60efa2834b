//! Finding runs from any directory: `ringlog runs`, and the `RUN` argument of
//! `tail`, `export`, `watch` and `plot`.
//!
//! Where runs are looked for, first match wins:
//! 1. `RUN` as a path to a run directory;
//! 2. the runs directory given by `--dir` or `RINGLOG_DIR` (or `./ringlog` when it
//!    exists): `DIR/RUN` (a directory name, `latest-run`, or an old-style
//!    `DIR/<id>`), else the `DIR/run-*-RUN` directory of that run id;
//! 3. the user's run list (`protocol::run_layout`), by run id or directory
//!    name; `latest` is the newest run there.

use std::path::{Path, PathBuf};

use ringlog_ring::protocol::run_layout::{self, RunList};

use super::Result;
use crate::RunListing;

/// The runs directory chosen explicitly (`--dir`, else `RINGLOG_DIR`).
fn explicit_runs_dir(dir: Option<PathBuf>) -> Option<PathBuf> {
    dir.or_else(|| std::env::var_os("RINGLOG_DIR").filter(|d| !d.is_empty()).map(PathBuf::from))
}

/// Where `runs` and the run lookup read: an explicit directory, the user's run
/// list, or `./ringlog` when there is no run list.
enum Source {
    Dir(PathBuf),
    List(RunList),
}

fn source(dir: Option<PathBuf>) -> Source {
    match explicit_runs_dir(dir) {
        Some(d) => Source::Dir(d),
        None => match RunList::from_env() {
            Some(list) => Source::List(list),
            None => Source::Dir(PathBuf::from("ringlog")),
        },
    }
}

/// Whether `dir` holds a run log (anything by that name: the reader says
/// what is wrong with one that is not a regular file).
fn is_run_dir(dir: &Path) -> bool {
    dir.join(crate::RUN_LOG_FILE).symlink_metadata().is_ok()
}

/// The directory of run `run` (see the module docs for the search order).
pub(super) fn resolve(run: &str, dir: Option<PathBuf>) -> Result<PathBuf> {
    let direct = PathBuf::from(run);
    if is_run_dir(&direct) {
        return Ok(direct);
    }
    let explicit = explicit_runs_dir(dir);
    let mut searched = Vec::new();
    let dirs = explicit.clone().into_iter().chain(explicit.is_none().then(|| PathBuf::from("ringlog")));
    for runs_dir in dirs {
        if let Some(found) = find_in_dir(&runs_dir, run) {
            return Ok(found);
        }
        searched.push(format!("the runs directory {}", runs_dir.display()));
    }
    if explicit.is_none()
        && let Some(list) = RunList::from_env()
    {
        let listing = list.read().map_err(|e| format!("cannot read the run list {}: {e}", list.path().display()))?;
        let newest = listing.present.last().filter(|_| matches!(run, "latest" | run_layout::LATEST_RUN_LINK));
        let found = newest.or_else(|| {
            listing.present.iter().rev().find(|e| e.run_id == run || e.run_dir.file_name().is_some_and(|n| n == run))
        });
        if let Some(e) = found {
            return Ok(e.run_dir.clone());
        }
        if let Some(gone) = listing.vanished.iter().rev().find(|e| e.run_id == run) {
            return Err(format!(
                "run {run} was in {}, but its directory has been deleted or moved",
                gone.run_dir.display()
            )
            .into());
        }
        searched.push(format!("the run list {}", list.path().display()));
    }
    Err(format!(
        "no run {run:?}: it is not a run directory, and not in {}; `ringlog runs` lists the runs (give a run id, a \
         directory, or `latest`)",
        searched.join(" or ")
    )
    .into())
}

/// `runs_dir/run`, or the `runs_dir/run-*-<run>` directory of run id `run`
/// (the newest when there are several).
fn find_in_dir(runs_dir: &Path, run: &str) -> Option<PathBuf> {
    let run = if run == "latest" { run_layout::LATEST_RUN_LINK } else { run };
    let named = runs_dir.join(run);
    if is_run_dir(&named) {
        return Some(named);
    }
    let mut matches: Vec<PathBuf> = std::fs::read_dir(runs_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().and_then(run_layout::run_id_of_dir_name) == Some(run))
        .map(|e| e.path())
        .filter(|p| is_run_dir(p))
        .collect();
    // The stamp sorts by time: the last is the newest.
    matches.sort();
    matches.pop()
}

/// The runs to list, newest first, and a note about runs the list names but
/// whose directories are gone.
pub(super) fn list(dir: Option<PathBuf>) -> Result<(Vec<RunListing>, Option<String>)> {
    let mut runs = match source(dir) {
        Source::Dir(d) => (crate::list_runs(&d)?, None),
        Source::List(list) => {
            let listing =
                list.read().map_err(|e| format!("cannot read the run list {}: {e}", list.path().display()))?;
            let runs: Vec<RunListing> =
                listing.present.iter().filter_map(|e| crate::export::exporters::listing_of(&e.run_dir)).collect();
            let note = (!listing.vanished.is_empty()).then(|| {
                let ids: Vec<&str> = listing.vanished.iter().rev().take(5).map(|e| e.run_id.as_str()).collect();
                format!(
                    "skipped {} run(s) whose directory is gone ({}{}); they leave {} at its next compaction",
                    listing.vanished.len(),
                    ids.join(", "),
                    if listing.vanished.len() > ids.len() { ", ..." } else { "" },
                    list.path().display()
                )
            });
            (runs, note)
        }
    };
    runs.0.sort_by(|a, b| (b.created_unix_ms, &b.run_id).cmp(&(a.created_unix_ms, &a.run_id)));
    Ok(runs)
}

/// The newest run: what `watch` shows without a `RUN` (the same run `latest`
/// names in `tail`, `export` and `plot`).
pub(super) fn latest(dir: Option<PathBuf>) -> Result<PathBuf> {
    resolve("latest", dir)
        .map_err(|e| format!("no latest run ({e}): start one (e.g. `ringlog demo`), or pass --dir DIR").into())
}
