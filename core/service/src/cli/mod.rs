//! The `ringlog` command: the service and the tools around runs. The binary
//! (`src/bin/ringlog.rs`) and the Python binding's `python -m ringlog` both
//! call [`run`].

mod demo;
mod docs_cmd;
mod human;
mod plot;
mod run_lookup;
mod status_cmd;
mod watch;

pub use plot::load_font;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use ringlog::RuntimeDir;
use ringlog_ring::protocol::control_message::{Request, Response, read_frame, write_frame};

/// ringlog: shared-memory logging for training runs.
#[derive(Parser)]
#[command(
    name = "ringlog",
    version,
    about = "ringlog: shared-memory logging for training runs (the service, and tools to find, follow, export and plot runs)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service in the foreground (or as a daemon with --daemon).
    Serve {
        /// Control socket path (default: RINGLOG_SOCKET or the per-user runtime dir).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Exit after this many seconds with no runs and no clients.
        #[arg(long, default_value_t = crate::service::serve::DEFAULT_IDLE_TIMEOUT.as_secs())]
        idle_timeout: u64,
        /// Detach (used by auto-start): fork, setsid, log to the runtime dir.
        #[arg(long)]
        daemon: bool,
    },
    /// Show live runs: lanes, records/s, bytes, fill, drops, timeouts, invalid frames
    /// ("no service running" when there is none).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List runs, newest first: from any directory (the user's run list under
    /// $XDG_STATE_HOME/ringlog), or those in --dir / RINGLOG_DIR.
    Runs {
        /// Runs directory (default RINGLOG_DIR, else every run in the user's run list).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A live dashboard of a run: each key's last value and recent curve, each lane's
    /// rate, lag, drops and state. Quit with q or Ctrl-C.
    Watch {
        /// Run id, run directory or `latest` (default: the newest run).
        run: Option<String>,
        /// Runs directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Steps of history each key's curve shows.
        #[arg(long, default_value_t = 200)]
        history: usize,
        /// Only these keys (comma-separated; `train/*` matches a prefix).
        #[arg(long, value_delimiter = ',', value_name = "KEYS")]
        keys: Option<Vec<String>>,
    },
    /// Draw keys' curves over steps into a PNG or SVG file.
    Plot {
        /// Run id, run directory or `latest`.
        run: String,
        /// Keys to draw (`train/*` matches a prefix).
        #[arg(required = true)]
        keys: Vec<String>,
        /// Output file, .png or .svg (default `<run id>.png`).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Runs directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Image size in pixels, WIDTHxHEIGHT.
        #[arg(long, default_value = "1200x700", value_parser = plot::parse_size)]
        size: (u32, u32),
        /// Exit 0 even when damaged regions of the run log were skipped.
        #[arg(long)]
        allow_damaged: bool,
    },
    /// List this user's ringlog segments in /dev/shm and which are stale (a run that
    /// ended, a damaged segment, one whose service is gone); reclaim those with --yes.
    Gc {
        /// Unlink the stale segments (without it, only list them).
        #[arg(long)]
        yes: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (e.g. `source <(ringlog completions bash)`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into --dir.
    Man {
        /// Write ringlog.1 and ringlog-COMMAND.1 here instead of printing ringlog.1.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the last rows of a run; with -f, keep printing new rows until the run ends.
    Tail {
        /// Run id or run directory.
        run: String,
        /// Rows to print.
        #[arg(short, default_value_t = 20)]
        n: usize,
        /// Follow a live run: print rows as they are logged, until the run is no longer running.
        #[arg(short, long)]
        follow: bool,
        /// Only these keys (comma-separated; `train/*` matches a prefix).
        #[arg(long, value_delimiter = ',', value_name = "KEYS")]
        keys: Option<Vec<String>>,
        /// Runs directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Exit 0 even when damaged regions of the run log were skipped.
        #[arg(long)]
        allow_damaged: bool,
    },
    /// Export a run's history or summary, or the whole run as a W&B offline run.
    Export {
        /// Run id or run directory.
        run: String,
        /// Output format (`wandb`: a W&B offline run, for `wandb sync` and `wandb leet`).
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Output file (default stdout); for `--format wandb` the directory the run's
        /// `wandb/offline-run-*` directory is made in (default the current directory).
        #[arg(short, long, visible_alias = "out")]
        output: Option<PathBuf>,
        /// Runs directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        sampling: SamplingArgs,
        /// Exit 0 even when damaged regions of the run log were skipped.
        #[arg(long)]
        allow_damaged: bool,
    },
    /// Start the service if needed, log a realistic run from several processes, finish it.
    Demo {
        /// Producer processes besides this one.
        #[arg(long, default_value_t = 3)]
        workers: u32,
        /// Steps (8 metrics each) every process logs. The default writes about 40 MB in all
        /// (the run log's ~38 bytes per step) and takes a few seconds however fast the service is.
        #[arg(long, default_value_t = demo::DEMO_STEPS)]
        steps: u64,
        /// Internal: run as a demo worker attached to this run.
        #[arg(long, hide = true)]
        worker_of: Option<String>,
        /// Internal: worker rank.
        #[arg(long, hide = true, default_value_t = 0)]
        rank: u32,
    },
    /// Stop the service and wait for it to exit.
    Shutdown,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
    /// One column per key (binary: needs -o FILE, or stdout that is not a terminal).
    Parquet,
    Summary,
    Wandb,
}

/// Downsampling of history, the same for every format (see `ringlog_service::Sampling`).
/// Any of these merges the lanes' rows into one row per step (JSONL and CSV rows then have no
/// `_lane`).
#[derive(clap::Args)]
struct SamplingArgs {
    /// One row per N steps: each key's last value in the window.
    #[arg(long, value_name = "N")]
    every: Option<u64>,
    /// At most R rows: the window width is chosen from the run's step range.
    #[arg(long, value_name = "R")]
    max_rows: Option<u64>,
    /// Add KEY/min, KEY/mean and KEY/max over each window for numeric keys.
    #[arg(long)]
    agg: bool,
    /// Only these keys (comma-separated; `train/*` matches a prefix).
    #[arg(long, value_delimiter = ',', value_name = "KEYS")]
    keys: Option<Vec<String>>,
    /// Only steps START <= step < END (uses the run log's index to skip the rest).
    #[arg(long, value_name = "START..END", value_parser = parse_step_range)]
    steps: Option<(i64, i64)>,
}

/// `START..END` as a half-open step range.
fn parse_step_range(s: &str) -> std::result::Result<(i64, i64), String> {
    let bad = || format!("{s:?} is not a step range: write START..END, e.g. 1000..2000 (END is excluded)");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let start = if a.is_empty() { i64::MIN } else { a.trim().parse().map_err(|_| bad())? };
    let end = if b.is_empty() { i64::MAX } else { b.trim().parse().map_err(|_| bad())? };
    if start >= end {
        return Err(format!("step range {s:?} is empty: START must be below END"));
    }
    Ok((start, end))
}

impl SamplingArgs {
    fn sampling(&self) -> crate::Sampling {
        crate::Sampling {
            every: self.every,
            max_rows: self.max_rows,
            agg: self.agg,
            keys: self.keys.clone(),
            steps: self.steps,
        }
    }
}

/// Runs the command line `args` (program name first) and returns the exit
/// status. Arguments are explicit because in the Python binding's process
/// `std::env::args` holds the interpreter's own.
///
/// # Examples
/// ```
/// assert_eq!(ringlog_service::cli::run(["ringlog", "--version"]), 0);
/// ```
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // try_parse: `--help`, `--version` and usage errors return a status
    // instead of exiting the process (which may be a Python interpreter).
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    // Every command reports to stderr; the service logs info, the others
    // warnings and worse (RINGLOG_LOG overrides both).
    if !matches!(cli.command, Command::Serve { .. }) {
        init_tracing("warn");
    }
    let result = match cli.command {
        Command::Serve { socket, idle_timeout, daemon } => serve(socket, idle_timeout, daemon),
        Command::Status { json } => status_cmd::status(json),
        Command::Runs { dir, json } => runs(dir, json),
        Command::Watch { run, dir, history, keys } => watch::watch(run.as_deref(), dir, history, keys),
        Command::Plot { run, keys, output, dir, size, allow_damaged } => {
            plot::plot(&run, &keys, output, dir, size, allow_damaged)
        }
        Command::Gc { yes, json } => gc(yes, json),
        Command::Completions { shell } => docs_cmd::completions(shell),
        Command::Man { dir } => docs_cmd::man(dir),
        Command::Tail { run, n, follow, keys, dir, allow_damaged } => {
            let sampling = crate::Sampling { keys, ..Default::default() };
            tail(&run, n, follow, &sampling, dir, allow_damaged)
        }
        Command::Export { run, format, output, dir, sampling, allow_damaged } => {
            export(&run, format, output, dir, &sampling.sampling(), allow_damaged)
        }
        Command::Demo { workers, steps, worker_of, rank } => match worker_of {
            Some(run_id) => demo::demo_worker(&run_id, rank, steps),
            None => demo::demo(workers, steps),
        },
        Command::Shutdown => shutdown(),
    };
    match result {
        Ok(()) => 0,
        // `ringlog export ... | head`: the reader went away; that is how a
        // pipeline ends, not an error.
        Err(e) if is_broken_pipe(e.as_ref()) => 0,
        Err(e) => {
            eprintln!("ringlog: {e}");
            1
        }
    }
}

/// Whether `e` or any error it wraps is an EPIPE.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) {
            return true;
        }
        cur = err.source();
    }
    false
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RINGLOG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn serve(socket: Option<PathBuf>, idle_timeout: u64, daemon: bool) -> Result<()> {
    let dirs = socket.map(RuntimeDir::for_socket).unwrap_or_else(RuntimeDir::from_env);
    let ready_fd = if daemon {
        dirs.ensure()?;
        crate::service::daemon::daemonize(&dirs.log_path())?
    } else {
        crate::service::daemon::ready_fd_from_env()
    };
    init_tracing("info");
    use crate::service::cpu_affinity::Inherited;
    let cfg = crate::service::serve::ServiceConfig {
        dirs,
        idle_timeout: Duration::from_secs(idle_timeout),
        ready_fd,
        inherited_cpus: if daemon { Inherited::Widen } else { Inherited::Keep },
    };
    match crate::service::serve::serve(cfg) {
        Err(crate::service::serve::ServiceError::AlreadyRunning(_)) if daemon => Ok(()),
        r => Ok(r?),
    }
}

/// One control call without auto-start (status and shutdown never start a
/// service); `None` when no service is running: no socket, or nothing
/// listening on it.
fn call_if_running(req: &Request) -> Result<Option<Response>> {
    let dirs = RuntimeDir::from_env();
    let mut s = match std::os::unix::net::UnixStream::connect(dirs.socket_path()) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => {
            return Err(format!("cannot reach the ringlog service at {}: {e}", dirs.socket_path().display()).into());
        }
    };
    use ringlog_ring::protocol::control_message::FrameIoError;
    use ringlog_ring::protocol::peer;
    s.set_read_timeout(Some(peer::HELLO_TIMEOUT))?;
    let hello = Request::Hello {
        protocol: ringlog_ring::protocol::control_message::PROTOCOL_VERSION,
        client_version: env!("CARGO_PKG_VERSION").into(),
    };
    write_frame(&mut s, &hello)?;
    match read_frame::<Response>(&mut s) {
        Ok(Response::Error { message, .. }) => return Err(message.into()),
        Ok(_) => {}
        Err(FrameIoError::Io(e)) if peer::is_timeout(&e) => {
            return Err(peer::not_answering(&dirs.socket_path().display().to_string(), peer::peer_pid(&s)).into());
        }
        Err(e) => return Err(e.into()),
    }
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write_frame(&mut s, req)?;
    match read_frame::<Response>(&mut s)? {
        Response::Error { message, .. } => Err(message.into()),
        r => Ok(Some(r)),
    }
}

/// [`call_if_running`] where no service is an error.
fn call(req: &Request) -> Result<Response> {
    call_if_running(req)?.ok_or_else(|| {
        format!(
            "no ringlog service at {}: start one with `ringlog serve`",
            RuntimeDir::from_env().socket_path().display()
        )
        .into()
    })
}

fn gc(yes: bool, json: bool) -> Result<()> {
    use crate::service::stale_segments::{Verdict, check_all, reclaim};
    // Reading a segment another process is truncating must not kill this command.
    let _ = ringlog_ring::truncation_guard::install();
    let checks = check_all(&RuntimeDir::from_env().registry_dir())?;
    let (reclaimed, bytes) = if yes { reclaim(&checks, false) } else { (0, 0) };
    if json {
        let v = serde_json::json!({"segments": checks, "reclaimed": reclaimed, "reclaimed_bytes": bytes});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let stale = checks.iter().filter(|c| matches!(c.verdict, Verdict::Stale { .. })).count();
    for c in &checks {
        let what = match &c.verdict {
            Verdict::Live { service_pid } => format!("live (service pid {service_pid})"),
            Verdict::AwaitingAdoption { service_pid } => {
                format!("awaiting adoption (service pid {service_pid} is gone; `ringlog serve` adopts it)")
            }
            Verdict::Stale { reason, .. } => format!("stale: {reason}"),
            Verdict::Unknown { reason } => format!("left alone: {reason}"),
        };
        println!("{:<26} {:>10}  {:<10} {what}", c.name, human::bytes(c.bytes), c.run_id.as_deref().unwrap_or("-"));
    }
    if yes {
        println!("reclaimed {reclaimed} stale segment(s), {}", human::bytes(bytes));
    } else if stale > 0 {
        println!("{stale} stale segment(s): reclaim them with `ringlog gc --yes`");
    } else if checks.is_empty() {
        println!("no ringlog segments in /dev/shm");
    }
    Ok(())
}

fn runs(dir: Option<PathBuf>, json: bool) -> Result<()> {
    let (list, note) = run_lookup::list(dir)?;
    if let Some(note) = note {
        eprintln!("ringlog: {note}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<12} {:<19} {:<9} {:>9} {:>5} {:>10}  {:<16} {:<16} DIR",
        "RUN", "CREATED (UTC)", "STATE", "STEPS", "KEYS", "SIZE", "PROJECT", "NAME"
    )?;
    for r in &list {
        writeln!(
            out,
            "{:<12} {:<19} {:<9} {:>9} {:>5} {:>10}  {:<16} {:<16} {}",
            r.run_id,
            r.created_unix_ms.map(human::utc_time).unwrap_or_else(|| "-".into()),
            r.state,
            r.last_step.map(|s| human::count(u64::try_from(s).unwrap_or(0) + 1)).unwrap_or_else(|| "-".into()),
            r.keys.map(|k| k.to_string()).unwrap_or_else(|| "-".into()),
            human::bytes(r.bytes),
            r.project.as_deref().unwrap_or("-"),
            r.name.as_deref().unwrap_or("-"),
            r.run_dir.display()
        )?;
    }
    Ok(())
}

fn tail(
    run: &str,
    n: usize,
    follow: bool,
    sampling: &crate::Sampling,
    dir: Option<PathBuf>,
    allow_damaged: bool,
) -> Result<()> {
    let dir = run_lookup::resolve(run, dir)?;
    let mut out = std::io::stdout().lock();
    let stats = if follow {
        let poll = std::time::Duration::from_millis(200);
        crate::follow(
            &dir,
            n,
            sampling,
            poll,
            || false,
            |row| {
                writeln!(out, "{}", serde_json::Value::Object(row.into_json_object()))
                    .and_then(|()| out.flush())
                    .map_err(|source| crate::ExportError::Write { format: "JSONL", source })
            },
        )?
    } else {
        let t = crate::tail_with(&dir, n, sampling)?;
        for row in t.rows {
            writeln!(out, "{}", serde_json::Value::Object(row.into_json_object()))?;
        }
        t.stats
    };
    check_damage(&dir, &stats, allow_damaged)
}

/// Reports what a read of the run log skipped (damaged regions by byte range,
/// rejected records) on stderr, and fails unless `allow_damaged`.
fn check_damage(run_dir: &std::path::Path, stats: &crate::ExportStats, allow_damaged: bool) -> Result<()> {
    if stats.damaged_regions == 0 && stats.rejected_records == 0 {
        return Ok(());
    }
    let ranges: Vec<String> = stats.damaged_ranges.iter().map(|(a, b)| format!("{a}..{b}")).collect();
    let more = stats.damaged_regions.saturating_sub(ranges.len() as u64);
    let msg = format!(
        "run log {}/{}: skipped {} damaged regions ({} bytes: bytes {}{}) and {} rejected records; the output misses \
         what they held",
        run_dir.display(),
        crate::RUN_LOG_FILE,
        stats.damaged_regions,
        stats.damaged_bytes,
        if ranges.is_empty() { "-".to_owned() } else { ranges.join(", ") },
        if more > 0 { format!(" and {more} more") } else { String::new() },
        stats.rejected_records,
    );
    if allow_damaged {
        eprintln!("ringlog: {msg} (--allow-damaged)");
        Ok(())
    } else {
        Err(format!("{msg}: pass --allow-damaged to accept the rest").into())
    }
}

fn export(
    run: &str,
    format: Format,
    output: Option<PathBuf>,
    dir: Option<PathBuf>,
    sampling: &crate::Sampling,
    allow_damaged: bool,
) -> Result<()> {
    let dir = run_lookup::resolve(run, dir)?;
    let progress = std::io::stderr().is_terminal();
    if let Format::Wandb = format {
        let out_dir = output.unwrap_or_else(|| PathBuf::from("."));
        let export = crate::export_wandb(&dir, &out_dir, sampling, progress)?;
        report_late_rows(export.stats.late_rows);
        check_damage(&dir, &export.stats, allow_damaged)?;
        println!(
            "wrote {} history rows ({}) to {}\nupload with: wandb sync {}",
            export.stats.rows,
            match export.outcome {
                ringlog_wandb::Outcome::Exited { exit_code: 0, .. } => "finished".to_owned(),
                ringlog_wandb::Outcome::Exited { exit_code, .. } => format!("failed, exit code {exit_code}"),
                ringlog_wandb::Outcome::Crashed { .. } => "crashed: no exit record, shown as failed".to_owned(),
            },
            export.run.run_dir.display(),
            export.run.run_dir.display()
        );
        return Ok(());
    }
    if let Format::Parquet = format {
        // Parquet is binary, and its writer needs an output it can own and send (a locked
        // stdout is neither), so it gets its own file or an unlocked stdout.
        let stats = match &output {
            Some(p) => {
                let file =
                    std::fs::File::create(p).map_err(|e| format!("cannot write the export to {}: {e}", p.display()))?;
                crate::export_parquet(&dir, std::io::BufWriter::new(file), sampling, progress)?
            }
            None if std::io::stdout().is_terminal() => {
                return Err("Parquet is binary and stdout is a terminal: pass -o FILE (e.g. -o run.parquet), or \
                            redirect stdout to a file or a pipe"
                    .into());
            }
            None => crate::export_parquet(&dir, std::io::BufWriter::new(std::io::stdout()), sampling, progress)?,
        };
        report_late_rows(stats.late_rows);
        return check_damage(&dir, &stats, allow_damaged);
    }
    let mut sink: Box<dyn Write> = match &output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("cannot write the export to {}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut damage = crate::ExportStats::default();
    match format {
        // Handled above: a W&B run is a directory, not a stream.
        Format::Wandb => {}
        // Handled above: Parquet needs an output it can send to its writer.
        Format::Parquet => {}
        Format::Jsonl => {
            let stats = crate::export_jsonl_with(&dir, &mut sink, sampling, progress)?;
            report_late_rows(stats.late_rows);
            damage = stats;
        }
        Format::Csv => {
            let stats = crate::export_csv_with(&dir, &mut sink, sampling, progress)?;
            report_late_rows(stats.late_rows);
            damage = stats;
        }
        Format::Summary => {
            crate::export_summary(&dir, &mut sink)?;
        }
    }
    let flushed = sink.flush().map_err(|e| match &output {
        Some(p) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            format!("cannot write the export to {}: {e}", p.display()).into()
        }
        _ => Box::<dyn std::error::Error>::from(e),
    });
    flushed?;
    check_damage(&dir, &damage, allow_damaged)
}

fn report_late_rows(late_rows: u64) {
    if late_rows > 0 {
        eprintln!(
            "ringlog: {late_rows} history rows were left out: their step came after a later step had been written \
             (a lane far behind the others, or a trainer that went back to an earlier step)"
        );
    }
}

fn shutdown() -> Result<()> {
    let dirs = RuntimeDir::from_env();
    call(&Request::Shutdown)?;
    // Wait for exit (the seed's ManagerPoll): the service lock frees when it is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ringlog_ring::protocol::service_lock::try_lock(&dirs.lock_path())?.is_some() {
            println!("service stopped");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("service did not exit within 30 s; see its log".into())
}
