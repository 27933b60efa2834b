//! The Rust client: connect (auto-starting the service), init or attach a run,
//! log, finish.
//!
//! Records go straight into this process's lane; only the lifecycle uses the
//! control socket. If the service dies, the client notices when a control
//! call fails or when a write blocks on a full lane (the service lock is then
//! free), starts a new service, and re-registers its lane; the new service
//! adopts the run and drains it without loss or duplication.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use ringlog_ring::protocol::control_message::{
    ErrorCode, FinishReport, FrameIoError, InitRun, LaneLoss, PROTOCOL_VERSION, Request, Response, RunEnd, RunReady,
    read_frame, write_frame,
};
use ringlog_ring::protocol::peer;
use ringlog_ring::protocol::runtime_dir::{RuntimeDir, RuntimeDirError};
use ringlog_ring::protocol::{run_layout, service_lock};
use ringlog_ring::{
    Alert, AlertLevel, Config, DEFAULT_LANE_BYTES, Exit, FullPolicy, History, Item, KeyId, Logged, OutputLine,
    ProduceError, Producer, Segment, SegmentError, Stream, Summary, Value, clock,
};

use crate::client::autostart::{self, AutostartError};

/// `lane 0: 12, lane 3: 4` for an error message.
fn lanes_text(lost: &[ringlog_ring::protocol::control_message::LaneLoss]) -> String {
    let parts: Vec<String> = lost.iter().map(|l| format!("lane {}: {}", l.lane, l.records)).collect();
    if parts.is_empty() { "no lane named".into() } else { parts.join(", ") }
}

/// Default bound on how long the owner's finish waits for other lanes.
pub const DEFAULT_FINISH_WAIT: Duration = Duration::from_secs(30);
/// Default period of the service's system stats samples.
pub const DEFAULT_SYSTEM_STATS: Duration = Duration::from_secs(10);

/// Bound on an ordinary control call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A client-side failure, with what to do about it.
///
/// `Debug` prints the same sentence as `Display`,
/// because a trainer whose `main` returns `Result<(), ClientError>` shows its
/// error through `Debug`: it must say what to do, not just
/// `Autostart(NotFound)`.
///
/// # Examples
/// ```
/// use ringlog::{AutostartError, ClientError};
/// let e = ClientError::from(AutostartError::NotFound);
/// assert!(format!("{e:?}").contains("RINGLOG_BIN"));
/// ```
#[derive(thiserror::Error)]
pub enum ClientError {
    /// No service and auto-start is off.
    #[error(
        "no ringlog service at {socket}, and RINGLOG_AUTOSTART=0: start one with `ringlog serve` \
         (same RINGLOG_SOCKET), or unset RINGLOG_AUTOSTART"
    )]
    NoService {
        /// Socket tried.
        socket: String,
    },
    /// Another process holds the service lock, and no service answers.
    #[error(
        "a process holds the ringlog service lock {lock}, but no service answered at {socket} within {waited:?} \
         (a service that is exiting, or one started with another socket): see `ringlog status`, and \
         `fuser {lock}` for the holder"
    )]
    LockHeld {
        /// Socket tried.
        socket: String,
        /// The lock file.
        lock: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// Starting the service failed.
    #[error(transparent)]
    Autostart(#[from] AutostartError),
    /// Unsafe or unusable runtime directory.
    #[error(transparent)]
    RuntimeDir(#[from] RuntimeDirError),
    /// The service answered with an error.
    #[error("service refused {what}: {message}")]
    Service {
        /// The request.
        what: &'static str,
        /// Error code.
        code: ErrorCode,
        /// The service's message.
        message: String,
    },
    /// The control channel broke.
    #[error("control channel to the service at {socket}: {source}")]
    Channel {
        /// Socket.
        socket: String,
        /// Cause.
        #[source]
        source: FrameIoError,
    },
    /// The service's answer made no sense for the request.
    #[error("unexpected answer from the service to {0}")]
    Unexpected(&'static str),
    /// The finish could not make every committed record durable; the report
    /// (also in the run's run.json) says how many, lane by lane.
    #[error(
        "finish could not make {} committed records durable ({}): {}; the run is marked incomplete in {}/run.json",
        .0.lost_records,
        lanes_text(&.0.lost_by_lane),
        .0.loss_reason.as_deref().unwrap_or("unknown cause"),
        .0.run_dir
    )]
    Incomplete(Box<FinishReport>),
    /// Opening the run's segment failed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// Writing a record failed.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// Used in a process forked from the one that made the handle.
    #[error(
        "this run handle was created before fork(); in the child call ringlog::attach(run_id) for a handle of its own"
    )]
    Forked,
    /// Bad option.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The service accepted the connection but does not answer.
    #[error("{0}")]
    NotAnswering(String),
}

impl std::fmt::Debug for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every message already names its cause (see the type's docs).
        write!(f, "{self}")
    }
}

/// A handshaken control connection.
struct Connection {
    stream: UnixStream,
    dirs: RuntimeDir,
}

impl Connection {
    /// Connects to the service for `dirs`, auto-starting it unless
    /// `RINGLOG_AUTOSTART=0`.
    fn open(dirs: &RuntimeDir) -> Result<Self, ClientError> {
        let autostart = std::env::var("RINGLOG_AUTOSTART").map(|v| v != "0").unwrap_or(true);
        let socket = dirs.socket_path();
        let stream = match UnixStream::connect(socket) {
            Ok(s) => s,
            Err(_) if !autostart => return Err(ClientError::NoService { socket: socket.display().to_string() }),
            Err(_) => {
                dirs.ensure()?;
                start_and_connect(dirs)?
            }
        };
        let mut conn = Self { stream, dirs: dirs.clone() };
        let hello = Request::Hello { protocol: PROTOCOL_VERSION, client_version: env!("CARGO_PKG_VERSION").into() };
        match conn.call(&hello, "hello", peer::HELLO_TIMEOUT) {
            Ok(Response::Welcome { .. }) => Ok(conn),
            Ok(_) => Err(ClientError::Unexpected("hello")),
            Err(ClientError::Channel { socket, source: FrameIoError::Io(e) }) if peer::is_timeout(&e) => {
                Err(ClientError::NotAnswering(peer::not_answering(&socket, peer::peer_pid(&conn.stream))))
            }
            Err(e) => Err(e),
        }
    }

    fn call(&mut self, req: &Request, what: &'static str, timeout: Duration) -> Result<Response, ClientError> {
        let channel = |source| ClientError::Channel { socket: self.dirs.socket_path().display().to_string(), source };
        let _ = self.stream.set_read_timeout(Some(timeout));
        let _ = self.stream.set_write_timeout(Some(CALL_TIMEOUT));
        write_frame(&mut self.stream, req).map_err(channel)?;
        let resp: Response = read_frame(&mut self.stream)
            .map_err(|source| ClientError::Channel { socket: self.dirs.socket_path().display().to_string(), source })?;
        match resp {
            Response::Error { code, message } => Err(ClientError::Service { what, code, message }),
            r => Ok(r),
        }
    }
}

/// How long a client waits for a service that holds the lock but does not
/// accept connections (one that is exiting, e.g. SIGKILLed while it unmaps a
/// large run) before it gives up.
const LOCK_HOLDER_WAIT: Duration = Duration::from_secs(15);

/// Auto-starts a service and connects to it. A started process that finds the
/// lock held ("busy") defers to the holder: a racing client's new service,
/// which binds within moments, or a dying one, whose lock is released when it
/// exits, after which the next start takes over. Bounded by `LOCK_HOLDER_WAIT`.
fn start_and_connect(dirs: &RuntimeDir) -> Result<UnixStream, ClientError> {
    let socket = dirs.socket_path();
    let deadline = std::time::Instant::now() + LOCK_HOLDER_WAIT;
    loop {
        let started = autostart::start_service(dirs)?;
        if let Some(s) = connect_bounded(socket, if started { 1 } else { 50 }) {
            return Ok(s);
        }
        if std::time::Instant::now() >= deadline {
            return Err(ClientError::LockHeld {
                socket: socket.display().to_string(),
                lock: dirs.lock_path().display().to_string(),
                waited: LOCK_HOLDER_WAIT,
            });
        }
        // The holder may be exiting: wait (bounded) for its lock, then start anew.
        while service_alive(dirs) && std::time::Instant::now() < deadline {
            if let Some(s) = connect_bounded(socket, 1) {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Connects, retrying `tries` times 10 ms apart (a racing service may still be binding).
fn connect_bounded(socket: &Path, tries: u32) -> Option<UnixStream> {
    for i in 0..tries.max(1) {
        if let Ok(s) = UnixStream::connect(socket) {
            return Some(s);
        }
        if i + 1 < tries {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    None
}

/// Whether a service holds the lock for `dirs` (false: it is dead or never started).
fn service_alive(dirs: &RuntimeDir) -> bool {
    // Taking the lock (released again on drop) means nobody held it.
    service_lock::service_alive(&dirs.lock_path())
}

/// Options of [`init`].
///
/// # Examples
/// ```
/// let opts = ringlog::InitOptions { project: "demo".into(), ..Default::default() };
/// assert_eq!(opts.policy, ringlog::FullPolicy::default());
/// ```
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Project name.
    pub project: String,
    /// Display name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Config values, recorded with the run (and in W&B's config). Build it
    /// with [`InitOptions::config`] or as a plain list.
    pub config: Vec<(String, Value)>,
    /// Run directory (default `<RINGLOG_DIR or ./ringlog>/run-YYYYMMDD_HHMMSS-<run id>`, with a
    /// `latest-run` link beside it), made absolute.
    pub run_dir: Option<PathBuf>,
    /// Run id (default: the service picks one).
    pub run_id: Option<String>,
    /// Ring bytes per lane (default `RINGLOG_LANE_BYTES` or 1 MiB).
    pub lane_bytes: Option<usize>,
    /// Full-lane policy for every lane of the run.
    pub policy: FullPolicy,
    /// How long the finish waits for other processes' lanes.
    pub finish_wait: Duration,
    /// Have the service also write the run as a W&B offline run, live, into
    /// `<run dir>/wandb/offline-run-*/` (`wandb sync` uploads it, `wandb leet` shows it while
    /// it runs). Default: whether the environment variable `RINGLOG_WANDB` is `1`.
    pub wandb: bool,
    /// How often the service samples the run's processes (CPU %, RSS, threads) and the host
    /// (CPU, memory, disk and network I/O) into system stats records (W&B's system charts);
    /// zero turns it off. Default: `RINGLOG_SYSTEM_STATS` seconds, else 10 s.
    pub system_stats: Duration,
    /// Control socket (default from the environment).
    pub socket: Option<PathBuf>,
}

impl InitOptions {
    /// Sets config `key` to `value` (replacing an earlier value of the key).
    ///
    /// # Examples
    /// ```
    /// let opts = ringlog::InitOptions::default().config("lr", 0.01).config("epochs", 10i64);
    /// assert_eq!(opts.config.len(), 2);
    /// ```
    #[must_use]
    pub fn config(mut self, key: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        match self.config.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.config.push((key.to_owned(), value)),
        }
        self
    }
}

/// The JSON form of a config value for the control message.
fn config_json(v: &Value) -> serde_json::Value {
    match v {
        Value::F64(x) => {
            serde_json::Number::from_f64(*x).map_or_else(|| serde_json::Value::String(x.to_string()), Into::into)
        }
        Value::I64(x) => (*x).into(),
        Value::Bool(b) => (*b).into(),
        Value::Str(s) => s.clone().into(),
        Value::F32Array(a) => a.iter().map(|x| config_json(&Value::F64(f64::from(*x)))).collect(),
        Value::Json(text) => serde_json::from_str(text).unwrap_or_else(|_| text.clone().into()),
    }
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            project: "default".into(),
            name: String::new(),
            tags: Vec::new(),
            config: Vec::new(),
            run_dir: None,
            run_id: None,
            lane_bytes: None,
            policy: FullPolicy::default(),
            finish_wait: DEFAULT_FINISH_WAIT,
            wandb: std::env::var_os("RINGLOG_WANDB").is_some_and(|v| v == "1"),
            system_stats: std::env::var("RINGLOG_SYSTEM_STATS")
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map_or(DEFAULT_SYSTEM_STATS, Duration::from_secs_f64),
            socket: None,
        }
    }
}

/// Shared between the run handle and its producer's stall hook.
struct Link {
    conn: Option<Connection>,
    dirs: RuntimeDir,
    run_id: String,
    lane: u16,
}

impl Link {
    /// A live connection, reconnecting (and auto-starting) if the old one broke
    /// or the service died; re-registers the lane with a new service.
    fn conn(&mut self) -> Result<&mut Connection, ClientError> {
        let dead = self.conn.is_none() || !service_alive(&self.dirs);
        if dead {
            self.conn = None;
            let mut c = Connection::open(&self.dirs)?;
            c.call(
                &Request::RegisterLane { run_id: self.run_id.clone(), lane: Some(self.lane) },
                "register lane",
                CALL_TIMEOUT,
            )?;
            tracing::info!(run = %self.run_id, lane = self.lane, "reconnected to a new service and re-registered");
            self.conn = Some(c);
        }
        self.conn.as_mut().ok_or(ClientError::Unexpected("reconnect"))
    }

    /// A call that survives one service death.
    fn call(&mut self, req: &Request, what: &'static str, timeout: Duration) -> Result<Response, ClientError> {
        match self.conn()?.call(req, what, timeout) {
            Err(ClientError::Channel { .. }) => {
                self.conn = None;
                self.conn()?.call(req, what, timeout)
            }
            r => r,
        }
    }
}

/// A run as seen by one process: its own lane plus the control link.
///
/// Dropping an owner's handle without [`Run::finish`] finishes the run with
/// exit code -1; dropping another process's handle detaches it.
pub struct Run {
    link: Arc<Mutex<Link>>,
    producer: Producer,
    ready: RunReady,
    owner: bool,
    finished: bool,
    finish_wait: Duration,
    start_ns: u64,
}

/// Starts a run owned by this process.
///
/// # Errors
/// No service (auto-start off or failed), the service refusing the options,
/// or the segment failing to open.
///
/// # Examples
/// ```no_run
/// let mut run = ringlog::init(ringlog::InitOptions { project: "mnist".into(), ..Default::default() })?;
/// let loss = run.key("train/loss")?;
/// for step in 0..100 {
///     run.log(step, &[(loss, 1.0 / (step + 1) as f64)])?;
/// }
/// let report = run.finish(0)?;
/// assert_eq!(report.state, ringlog::RunEnd::Finished);
/// # Ok::<(), ringlog::ClientError>(())
/// ```
pub fn init(opts: InitOptions) -> Result<Run, ClientError> {
    let dirs = opts.socket.clone().map(RuntimeDir::for_socket).unwrap_or_else(RuntimeDir::from_env);
    let lane_bytes = match opts.lane_bytes {
        Some(b) => b,
        None => match std::env::var("RINGLOG_LANE_BYTES") {
            Ok(v) => v.parse().map_err(|_| ClientError::InvalidOption(format!("RINGLOG_LANE_BYTES={v:?}")))?,
            Err(_) => DEFAULT_LANE_BYTES,
        },
    };
    let run_dir = match &opts.run_dir {
        Some(d) => absolute(d)?,
        None => {
            // The default layout: RUNS_DIR/run-YYYYMMDD_HHMMSS-<id>, and RUNS_DIR/latest-run
            // pointing at it once the run is ready (protocol::run_layout).
            let base = std::env::var_os("RINGLOG_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("ringlog"));
            let base = absolute(&base)?;
            let id = opts.run_id.clone().unwrap_or_else(service_lock::new_run_id);
            let now_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            let name = run_layout::run_dir_name(&id, now_ns);
            let run = init(InitOptions { run_dir: Some(base.join(&name)), run_id: Some(id), ..opts })?;
            // The link is a convenience: a run that cannot update it still logs.
            if let Err(e) = run_layout::point_latest_run(&base, &name) {
                tracing::warn!("cannot point {}/latest-run at {name}: {e}", base.display());
            }
            return Ok(run);
        }
    };
    let policy = match opts.policy {
        FullPolicy::Block { timeout } => format!("block:{}", timeout.as_millis()),
        FullPolicy::DropNewest => "drop".into(),
        FullPolicy::Error => "error".into(),
    };
    let req = Request::InitRun(InitRun {
        project: opts.project.clone(),
        name: opts.name.clone(),
        tags: opts.tags.clone(),
        config: serde_json::Value::Object(opts.config.iter().map(|(k, v)| (k.clone(), config_json(v))).collect()),
        run_dir: run_dir.display().to_string(),
        lane_bytes: lane_bytes as u64,
        policy,
        run_id: opts.run_id.clone(),
        wandb: opts.wandb,
        system_stats_s: Some(opts.system_stats.as_secs_f64()),
    });
    let mut conn = Connection::open(&dirs)?;
    let ready = match conn.call(&req, "init", CALL_TIMEOUT)? {
        Response::RunReady(r) => r,
        _ => return Err(ClientError::Unexpected("init")),
    };
    let mut run = Run::open(conn, dirs, ready, true, opts.finish_wait)?;
    if !opts.config.is_empty() {
        let refs: Vec<(&str, Value)> = opts.config.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        // A fresh lane has room: the config cannot be dropped here.
        let _ = run.config(&refs)?;
    }
    Ok(run)
}

/// Adds this process to run `run_id` (another DDP rank, a worker process).
///
/// # Errors
/// No service, unknown run, or the segment failing to open.
///
/// # Examples
/// ```no_run
/// let mut run = ringlog::attach("abc123")?;
/// let k = run.key("rank1/loss")?;
/// run.log(0, &[(k, 0.3)])?;
/// run.finish(0)?; // a non-owner's finish detaches
/// # Ok::<(), ringlog::ClientError>(())
/// ```
pub fn attach(run_id: &str) -> Result<Run, ClientError> {
    attach_with(run_id, RuntimeDir::from_env())
}

/// [`attach`] with an explicit runtime directory.
///
/// # Errors
/// As [`attach`].
pub fn attach_with(run_id: &str, dirs: RuntimeDir) -> Result<Run, ClientError> {
    let mut conn = Connection::open(&dirs)?;
    let ready = match conn.call(&Request::AttachRun { run_id: run_id.into() }, "attach", CALL_TIMEOUT)? {
        Response::RunReady(r) => r,
        _ => return Err(ClientError::Unexpected("attach")),
    };
    Run::open(conn, dirs, ready, false, DEFAULT_FINISH_WAIT)
}

fn absolute(p: &Path) -> Result<PathBuf, ClientError> {
    std::path::absolute(p).map_err(|e| ClientError::InvalidOption(format!("run dir {}: {e}", p.display())))
}

impl Run {
    fn open(
        conn: Connection,
        dirs: RuntimeDir,
        ready: RunReady,
        owner: bool,
        finish_wait: Duration,
    ) -> Result<Self, ClientError> {
        let segment = Segment::open(&ready.segment)?;
        let mut producer = segment.claim(ready.lane)?;
        let link = Arc::new(Mutex::new(Link {
            conn: Some(conn),
            dirs: dirs.clone(),
            run_id: ready.run_id.clone(),
            lane: ready.lane,
        }));
        let hook_link = Arc::clone(&link);
        producer.set_stall_hook(Box::new(move || {
            // A full lane that does not drain: is the service still there?
            if !service_alive(&dirs)
                && let Err(e) = hook_link.lock().unwrap_or_else(|p| p.into_inner()).conn()
            {
                tracing::warn!(error = %e, "service is gone and could not be restarted yet");
            }
        }));
        Ok(Self { link, producer, ready, owner, finished: false, finish_wait, start_ns: clock::now_unix_ns() })
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.ready.run_id
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        Path::new(&self.ready.run_dir)
    }

    /// This process's lane.
    pub fn lane(&self) -> u16 {
        self.ready.lane
    }

    /// Counters of this process's lane.
    pub fn counters(&self) -> ringlog_ring::LaneCounters {
        self.producer.counters()
    }

    /// Bytes of this process's lane written and not yet taken by the service,
    /// and the lane's size (bindings use it to release their interpreter
    /// lock before a write that could wait for space).
    pub fn lane_fill(&self) -> (u64, u64) {
        self.producer.fill()
    }

    /// Whether this handle was inherited across `fork()` (it then refuses to write).
    pub fn is_forked(&self) -> bool {
        self.producer.is_forked_copy()
    }

    fn check_fork(&self) -> Result<(), ClientError> {
        if self.is_forked() { Err(ClientError::Forked) } else { Ok(()) }
    }

    /// Waits until the service has taken everything this process wrote out of
    /// its lane (appended to the run log, not yet fsynced: that is the
    /// finish's job). Returns `false` if `timeout` passed first.
    ///
    /// # Errors
    /// Use after fork.
    pub fn flush(&mut self, timeout: Duration) -> Result<bool, ClientError> {
        self.check_fork()?;
        Ok(self.producer.wait_drained(timeout)?)
    }

    /// Interns a key name (`train/loss`); the first use writes its definition.
    ///
    /// # Errors
    /// Invalid name, or a full-lane error.
    pub fn key(&mut self, name: &str) -> Result<KeyId, ClientError> {
        self.check_fork()?;
        Ok(self.producer.key(name)?)
    }

    /// Logs scalars at `step`: the fast path (one frame, no allocation).
    ///
    /// # Errors
    /// A full-lane error per the run's policy, or use after fork.
    pub fn log(&mut self, step: i64, items: &[(KeyId, f64)]) -> Result<Logged, ClientError> {
        self.check_fork()?;
        Ok(match items {
            [(k, v)] => self.producer.log_scalar1(step, *k, *v)?,
            _ => self.producer.log_scalars(step, items)?,
        })
    }

    /// Logs values of any type by key name at `step` (a convenience that
    /// interns the names and allocates).
    ///
    /// # Errors
    /// As [`Run::log`] and [`Run::key`].
    pub fn log_values(&mut self, step: i64, items: &[(&str, Value)]) -> Result<Logged, ClientError> {
        let items = self.items(items)?;
        Ok(self.producer.log(&History { ts_ns: clock::now_unix_ns(), step, items })?)
    }

    fn items(&mut self, items: &[(&str, Value)]) -> Result<Vec<Item>, ClientError> {
        self.check_fork()?;
        items.iter().map(|(k, v)| Ok(Item { key: self.producer.key(k)?.0, value: v.clone() })).collect()
    }

    /// Sets summary values (last write wins).
    ///
    /// # Errors
    /// As [`Run::log_values`].
    pub fn summary(&mut self, items: &[(&str, Value)]) -> Result<Logged, ClientError> {
        let items = self.items(items)?;
        Ok(self.producer.log(&Summary { ts_ns: clock::now_unix_ns(), items })?)
    }

    /// Records config values.
    ///
    /// # Errors
    /// As [`Run::log_values`].
    pub fn config(&mut self, items: &[(&str, Value)]) -> Result<Logged, ClientError> {
        let items = self.items(items)?;
        Ok(self.producer.log(&Config { ts_ns: clock::now_unix_ns(), items })?)
    }

    /// Records one line of console output.
    ///
    /// # Errors
    /// As [`Run::log`].
    pub fn output(&mut self, stream: Stream, line: &str) -> Result<Logged, ClientError> {
        self.check_fork()?;
        Ok(self.producer.log(&OutputLine { ts_ns: clock::now_unix_ns(), stream, line: line.into() })?)
    }

    /// Raises an alert.
    ///
    /// # Errors
    /// As [`Run::log`].
    pub fn alert(&mut self, level: AlertLevel, title: &str, text: &str) -> Result<Logged, ClientError> {
        self.check_fork()?;
        Ok(self.producer.log(&Alert { ts_ns: clock::now_unix_ns(), level, title: title.into(), text: text.into() })?)
    }

    /// Finishes the run (owner) or detaches (other processes). The owner's
    /// finish waits, bounded, for other lanes, then the service drains, fsyncs
    /// and answers with counts.
    ///
    /// # Errors
    /// The service failing to finish within its bound, or use after fork.
    pub fn finish(mut self, exit_code: i32) -> Result<FinishReport, ClientError> {
        self.finish_inner(exit_code)
    }

    fn finish_inner(&mut self, exit_code: i32) -> Result<FinishReport, ClientError> {
        self.check_fork()?;
        self.finished = true;
        let _ = self.producer.log(&Exit { ts_ns: clock::now_unix_ns(), exit_code, reserved: 0 });
        // Counted in this process's memory, after the exit record: the
        // service checks the run log against it.
        let committed = self.producer.counters().records;
        let mut link = self.link.lock().unwrap_or_else(|p| p.into_inner());
        if self.owner {
            let req = Request::FinishRun {
                run_id: self.ready.run_id.clone(),
                exit_code,
                wait_ms: self.finish_wait.as_millis() as u64,
                committed: Some(LaneLoss { lane: self.ready.lane, records: committed }),
            };
            match link.call(&req, "finish", self.finish_wait + Duration::from_secs(90))? {
                Response::Finished(r) if r.state == RunEnd::Incomplete => Err(ClientError::Incomplete(Box::new(r))),
                Response::Finished(r) => Ok(r),
                _ => Err(ClientError::Unexpected("finish")),
            }
        } else {
            let req = Request::Detach {
                run_id: self.ready.run_id.clone(),
                lane: self.ready.lane,
                committed: Some(committed),
            };
            link.call(&req, "detach", CALL_TIMEOUT)?;
            let c = self.producer.counters();
            Ok(FinishReport {
                run_id: self.ready.run_id.clone(),
                run_dir: self.ready.run_dir.clone(),
                exit_code,
                state: RunEnd::Detached,
                records: c.records,
                bytes: c.bytes,
                drops: c.drops,
                timeouts: c.timeouts,
                runtime_ms: (clock::now_unix_ns().saturating_sub(self.start_ns)) / 1_000_000,
                ..FinishReport::default()
            })
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.finished || self.producer.is_forked_copy() {
            return;
        }
        if let Err(e) = self.finish_inner(-1) {
            tracing::warn!(run = %self.ready.run_id, error = %e, "finishing a dropped run handle failed");
        }
    }
}
