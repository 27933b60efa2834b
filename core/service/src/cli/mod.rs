//! The `ringlog` command: the service and the tools around runs. The binary
//! (`src/bin/ringlog.rs`) and the Python binding's `python -m ringlog` both
//! call [`run`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use ringlog::{InitOptions, RuntimeDir, Stream, Value};
use ringlog_ring::protocol::control_message::{Request, Response, read_frame, write_frame};

/// ringlog: shared-memory logging for training runs.
#[derive(Parser)]
#[command(version, about)]
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
    /// Show live runs: lanes, records/s, bytes, fill, drops, timeouts, invalid frames.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the runs under the runs directory.
    Runs {
        /// Runs directory (default RINGLOG_DIR or ./ringlog).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
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
        #[arg(long, default_value_t = DEMO_STEPS)]
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
        Command::Status { json } => status(json),
        Command::Runs { dir, json } => runs(dir, json),
        Command::Tail { run, n, follow, keys, dir, allow_damaged } => {
            let sampling = crate::Sampling { keys, ..Default::default() };
            tail(&run, n, follow, &sampling, dir, allow_damaged)
        }
        Command::Export { run, format, output, dir, sampling, allow_damaged } => {
            export(&run, format, output, dir, &sampling.sampling(), allow_damaged)
        }
        Command::Demo { workers, steps, worker_of, rank } => match worker_of {
            Some(run_id) => demo_worker(&run_id, rank, steps),
            None => demo(workers, steps),
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
    let cfg = crate::service::serve::ServiceConfig { dirs, idle_timeout: Duration::from_secs(idle_timeout), ready_fd };
    match crate::service::serve::serve(cfg) {
        Err(crate::service::serve::ServiceError::AlreadyRunning(_)) if daemon => Ok(()),
        r => Ok(r?),
    }
}

/// One control call without auto-start (status and shutdown never start a service).
fn call(req: &Request) -> Result<Response> {
    let dirs = RuntimeDir::from_env();
    let mut s = std::os::unix::net::UnixStream::connect(dirs.socket_path()).map_err(|e| {
        format!("no ringlog service at {} ({e}): start one with `ringlog serve`", dirs.socket_path().display())
    })?;
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
        r => Ok(r),
    }
}

fn status(json: bool) -> Result<()> {
    let Response::Status(report) = call(&Request::Status)? else { return Err("unexpected answer".into()) };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("service pid {} version {}, {} live run(s)", report.pid, report.version, report.runs.len());
    if report.refused_connections > 0 {
        println!(
            "refusing connections: {} refused so far ({}); raise the service's open-file limit (ulimit -n)",
            report.refused_connections,
            report.accept_error.as_deref().unwrap_or("accept failed")
        );
    }
    for run in &report.runs {
        println!(
            "run {}  project {}  state {}  records {}  bytes {}  {:.0} records/s",
            run.run_id, run.project, run.state, run.records, run.bytes, run.records_per_s
        );
        if let Some(e) = &run.disk_error {
            println!("  run log not writable, records wait in the lanes: {e}");
        }
        println!("  lane  pid      state      records    fill          drops  timeouts  invalid");
        for l in &run.lanes {
            println!(
                "  {:<5} {:<8} {:<10} {:<10} {:>5.1}% of {:<5} {:<6} {:<9} {}",
                l.lane,
                l.pid,
                l.state,
                l.records,
                100.0 * l.fill as f64 / l.capacity.max(1) as f64,
                human(l.capacity),
                l.drops,
                l.timeouts,
                l.invalid_frames
            );
        }
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{}G", b >> 30),
        b if b >= 1 << 20 => format!("{}M", b >> 20),
        b if b >= 1 << 10 => format!("{}K", b >> 10),
        b => format!("{b}B"),
    }
}

fn runs_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.or_else(|| std::env::var_os("RINGLOG_DIR").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("ringlog"))
}

/// A run id under the runs dir, or a path to a run directory.
fn run_dir(run: &str, dir: Option<PathBuf>) -> PathBuf {
    let direct = PathBuf::from(run);
    if direct.join(crate::RUN_LOG_FILE).exists() { direct } else { runs_dir(dir).join(run) }
}

fn runs(dir: Option<PathBuf>, json: bool) -> Result<()> {
    let list = crate::list_runs(runs_dir(dir))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<12} {:<10} {:<16} {:<20} {:>12}", "RUN", "STATE", "PROJECT", "NAME", "RECORDS")?;
    for r in &list {
        writeln!(
            out,
            "{:<12} {:<10} {:<16} {:<20} {:>12}",
            r.run_id,
            r.state,
            r.project.as_deref().unwrap_or("-"),
            r.name.as_deref().unwrap_or("-"),
            r.records.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
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
    let dir = run_dir(run, dir);
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
    let dir = run_dir(run, dir);
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

const DEMO_METRICS: [&str; 8] = [
    "train/loss",
    "train/accuracy",
    "train/lr",
    "train/grad_norm",
    "val/loss",
    "val/accuracy",
    "perf/tokens_per_s",
    "perf/step_time_ms",
];

/// Logs a realistic curve for `seconds`; returns records written.
fn log_curve(run: &mut ringlog::Run, rank: u32, steps: u64) -> Result<u64> {
    let prefix = format!("rank{rank}/");
    let keys =
        DEMO_METRICS.iter().map(|m| run.key(&format!("{prefix}{m}"))).collect::<std::result::Result<Vec<_>, _>>()?;
    let steps = i64::try_from(steps).map_err(|_| "--steps is too large")?;
    let mut step = 0i64;
    let mut items = [(keys[0], 0.0); 8];
    while step < steps {
        for _ in 0..1000.min(steps - step) {
            let t = step as f64;
            let loss = 2.5 * (-t / 2.0e5).exp() + 0.1 + 0.01 * ((t * 0.37).sin());
            let values = [
                loss,
                1.0 - loss / 3.0,
                1e-3 * (1.0 + t / 1e5).recip(),
                1.0 + 0.5 * (t * 0.011).cos(),
                loss * 1.05,
                1.0 - loss / 2.8,
                5.0e4,
                12.5,
            ];
            for (slot, (k, v)) in items.iter_mut().zip(keys.iter().zip(values)) {
                *slot = (*k, v);
            }
            let _ = run.log(step, &items)?;
            step += 1;
        }
        if step % 100_000 == 0 || step == steps {
            let _ = run.output(Stream::Stdout, &format!("rank {rank} step {step} loss {:.4}", items[0].1))?;
        }
    }
    let _ = run.summary(&[(&format!("{prefix}final_step"), Value::I64(step))])?;
    Ok(step as u64)
}

// The demo logs with the default Block policy: a record is written or the
// call fails, never dropped, so the `Logged` outcomes are not inspected.
fn demo_worker(run_id: &str, rank: u32, steps: u64) -> Result<()> {
    let mut run = ringlog::attach(run_id)?;
    let steps = log_curve(&mut run, rank, steps)?;
    run.finish(0)?;
    println!("{steps}");
    Ok(())
}

/// Steps per demo process by default: 4 processes x 250,000 steps x ~38 bytes is about 40 MB.
const DEMO_STEPS: u64 = 250_000;

fn demo(workers: u32, steps: u64) -> Result<()> {
    let start = Instant::now();
    let mut run = ringlog::init(
        InitOptions { project: "ringlog-demo".into(), name: "demo".into(), ..Default::default() }
            .config("model", "demo-transformer")
            .config("lr", 1e-3)
            .config("batch_size", 64i64)
            .config("workers", i64::from(workers)),
    )?;
    println!(
        "run {} in {} (service up and run ready in {:.1} ms)",
        run.run_id(),
        run.run_dir().display(),
        start.elapsed().as_secs_f64() * 1e3
    );
    let exe = std::env::current_exe()?;
    let children = (1..=workers)
        .map(|rank| {
            std::process::Command::new(&exe)
                .args(["demo", "--worker-of", run.run_id(), "--rank", &rank.to_string(), "--steps", &steps.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let _ = run.output(Stream::Stdout, "demo: training started")?;
    let t0 = Instant::now();
    let per_process = steps;
    let mut steps = log_curve(&mut run, 0, per_process)?;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("a demo worker failed: {}", out.status).into());
        }
        steps += String::from_utf8_lossy(&out.stdout).trim().parse::<u64>().unwrap_or(0);
    }
    let _ = run.output(Stream::Stdout, "demo: training finished")?;
    let elapsed = t0.elapsed().as_secs_f64();
    let report = run.finish(0)?;
    println!("run dir      {}", report.run_dir);
    println!("state        {} (exit code {})", report.state, report.exit_code);
    println!(
        "records      {} in the run log ({} steps x 8 metrics from {} processes)",
        report.records,
        steps,
        workers + 1
    );
    println!(
        "bytes        {} run log ({}), {:.1} bytes per step of 8 metrics",
        report.bytes,
        human(report.bytes),
        report.bytes as f64 / steps.max(1) as f64
    );
    println!("drops        {}  timeouts {}  invalid frames {}", report.drops, report.timeouts, report.invalid_frames);
    println!(
        "throughput   {:.2} M steps/s = {:.1} M metric values/s, finish included",
        steps as f64 / elapsed / 1e6,
        8.0 * steps as f64 / elapsed / 1e6
    );
    println!("try          ringlog runs; ringlog export {} --format csv | head", report.run_id);
    Ok(())
}
