//! Control-channel messages between clients and the service, and their framing.
//!
//! A frame is a 4-byte little-endian length followed by that many bytes of
//! JSON (one [`Request`] or one [`Response`]). Frames larger than
//! [`MAX_CONTROL_FRAME`] are refused. The first exchange on a connection is
//! `Hello` / `Welcome`, which carries [`PROTOCOL_VERSION`]; a mismatch is an
//! `Error` reply naming both versions. Records never travel here.
//!
//! Everything a client sends is absolute: it resolves paths (the run
//! directory) before sending them.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Version of this protocol; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest control frame in bytes.
pub const MAX_CONTROL_FRAME: usize = 1 << 20;

/// A client's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Handshake (the seed's EnsureUp).
    Hello {
        /// Client's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Client library version, for messages.
        client_version: String,
    },
    /// Start a run (the seed's UserInitMsg).
    InitRun(InitRun),
    /// Add this process to an existing run (another DDP rank).
    AttachRun {
        /// Run to attach to.
        run_id: String,
    },
    /// Get another lane in a run this process already writes to, or re-claim
    /// `lane` after a service restart.
    RegisterLane {
        /// The run.
        run_id: String,
        /// Lane to re-claim, or `None` for a new one.
        lane: Option<u16>,
    },
    /// The owner finishes the run (the seed's UserFinMsg).
    FinishRun {
        /// The run.
        run_id: String,
        /// Trainer's exit code.
        exit_code: i32,
        /// How long to wait for other lanes to detach, in ms.
        wait_ms: u64,
        /// The owner's own lane and how many records it committed there,
        /// counted in the owner's private memory: the service checks the run
        /// log holds them all. Absent from older clients.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        committed: Option<LaneLoss>,
    },
    /// A non-owner leaves the run.
    Detach {
        /// The run.
        run_id: String,
        /// Its lane.
        lane: u16,
        /// Records it committed to the lane, counted in its private memory
        /// (not in the lane, which it can scribble on): the service checks
        /// the run log holds them all. Absent from older clients.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        committed: Option<u64>,
    },
    /// Live runs and their lanes.
    Status,
    /// Stop the service (the seed's ManagerStop).
    Shutdown,
}

/// Options of a new run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitRun {
    /// Project name.
    pub project: String,
    /// Display name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Config as a JSON object.
    pub config: serde_json::Value,
    /// Absolute directory for the run's files.
    pub run_dir: String,
    /// Ring bytes per lane.
    pub lane_bytes: u64,
    /// Full-lane policy: `block:<ms>`, `drop` or `error`.
    pub policy: String,
    /// Run id to use (`None`: the service makes one).
    pub run_id: Option<String>,
    /// Also write the run as a W&B offline run into `<run_dir>/wandb/` while it drains.
    /// Absent in messages from older clients, which means `false`.
    #[serde(default)]
    pub wandb: bool,
    /// Seconds between the service's samples of the run's processes and the host
    /// (system stats records); 0 turns them off. Absent (older clients): 10.
    #[serde(default)]
    pub system_stats_s: Option<f64>,
}

/// The service's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// Handshake accepted.
    Welcome {
        /// Service's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Service version.
        service_version: String,
        /// Service pid.
        pid: u32,
    },
    /// A lane is ready for this process.
    RunReady(RunReady),
    /// The run is finished and durable.
    Finished(FinishReport),
    /// Done, nothing to report.
    Ok,
    /// Live runs.
    Status(StatusReport),
    /// The request failed; the connection stays usable unless it was malformed.
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// What happened and what to do.
        message: String,
    },
}

/// What a process needs to write into a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReady {
    /// Run id.
    pub run_id: String,
    /// Segment name to open.
    pub segment: String,
    /// Lane of this process.
    pub lane: u16,
    /// Absolute run directory.
    pub run_dir: String,
}

/// Counts reported at finish.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishReport {
    /// Run id.
    pub run_id: String,
    /// Run directory.
    pub run_dir: String,
    /// Exit code recorded.
    pub exit_code: i32,
    /// How the run (or, for a non-owner, this process's part) ended.
    pub state: RunEnd,
    /// Records written to the run log (key definitions included).
    pub records: u64,
    /// Payload bytes written.
    pub bytes: u64,
    /// Records dropped by policy.
    pub drops: u64,
    /// Block timeouts.
    pub timeouts: u64,
    /// Frames rejected as invalid.
    pub invalid_frames: u64,
    /// Lanes whose producer died.
    pub abandoned_lanes: u32,
    /// Wall time from init to finish, ms.
    pub runtime_ms: u64,
    /// Lanes whose own counters (drops, timeouts) were not believed and left
    /// out of `drops` and `timeouts`: a lane closed as corrupt, or a value
    /// no producer can reach (something wrote over the lane's control page).
    #[serde(default)]
    pub untrusted_counter_lanes: u32,
    /// Records producers committed that the finish could not make durable
    /// (a full or failing disk, a lane that never drained), in all lanes.
    /// Non-zero makes the state [`RunEnd::Incomplete`].
    #[serde(default)]
    pub lost_records: u64,
    /// The same, lane by lane (only lanes that lost something).
    #[serde(default)]
    pub lost_by_lane: Vec<LaneLoss>,
    /// Why records were lost, when some were (the last disk error).
    #[serde(default)]
    pub loss_reason: Option<String>,
    /// Lanes of other processes still open when the finish's wait ended
    /// (a stalled or stopped rank): closed by the finish; their producers get
    /// `LaneClosed` on their next record.
    #[serde(default)]
    pub stalled_lanes: Vec<LaneStall>,
}

/// Records one lane lost at finish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneLoss {
    /// Lane.
    pub lane: u16,
    /// Records: in a report, committed to the lane and not in the run log; in
    /// a finish request, committed to the lane.
    pub records: u64,
}

/// A lane still open when the owner's finish closed the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneStall {
    /// Lane.
    pub lane: u16,
    /// Its producer's pid.
    pub pid: u32,
    /// Bytes written into the lane and never committed or read (a frame
    /// the producer had open), as the lane's positions say.
    pub unread_bytes: u64,
}

/// How a run ended, as a finish report states it (`"finished"`, `"crashed"`
/// or `"detached"` on the wire).
///
/// # Examples
/// ```
/// use ringlog_ring::protocol::control_message::RunEnd;
/// assert_eq!(serde_json::to_string(&RunEnd::Finished).unwrap(), "\"finished\"");
/// assert_eq!(RunEnd::Crashed.as_str(), "crashed");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunEnd {
    /// The owner finished it: drained, fsynced, counted.
    #[default]
    Finished,
    /// Every producer died without a finish.
    Crashed,
    /// A non-owner detached its lane; the run goes on.
    Detached,
    /// The owner finished, but not every committed record could be made
    /// durable: the report says how many, lane by lane, and why.
    Incomplete,
}

impl RunEnd {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::Crashed => "crashed",
            Self::Detached => "detached",
            Self::Incomplete => "incomplete",
        }
    }
}

impl std::fmt::Display for RunEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One live run in a status report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// Run id.
    pub run_id: String,
    /// Project.
    pub project: String,
    /// Run state: `running`, `finishing` (the owner's finish waits for the
    /// other lanes), `finished` or `crashed`.
    pub state: String,
    /// Records written so far.
    pub records: u64,
    /// Payload bytes written so far.
    pub bytes: u64,
    /// Records per second over the last interval.
    pub records_per_s: f64,
    /// The run log's last write error while it lasts (a full disk): the
    /// records wait in the lanes and writing resumes when it clears.
    #[serde(default)]
    pub disk_error: Option<String>,
    /// Lanes.
    pub lanes: Vec<LaneStatus>,
}

/// One lane in a status report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneStatus {
    /// Lane id.
    pub lane: u16,
    /// Owner pid.
    pub pid: u32,
    /// Lane state.
    pub state: String,
    /// Frames committed.
    pub records: u64,
    /// Bytes waiting to be drained.
    pub fill: u64,
    /// Ring bytes.
    pub capacity: u64,
    /// Dropped.
    pub drops: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Invalid frames.
    pub invalid_frames: u64,
}

/// Answer to `Status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Service pid.
    pub pid: u32,
    /// Service version.
    pub version: String,
    /// Live runs.
    pub runs: Vec<RunStatus>,
    /// Connections the service could not accept (out of file descriptors)
    /// since it started; the clients behind them were left waiting.
    #[serde(default)]
    pub refused_connections: u64,
    /// Why the last refused connection was refused, if any.
    #[serde(default)]
    pub accept_error: Option<String>,
}

/// Error codes of [`Response::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Frame or JSON not understood.
    Malformed,
    /// Protocol versions differ.
    ProtocolMismatch,
    /// No such run.
    UnknownRun,
    /// Bad argument.
    InvalidArgument,
    /// Only the owner may do this.
    NotOwner,
    /// Handshake missing.
    NoHello,
    /// Service-side failure (disk, /dev/shm, ...).
    Internal,
}

/// Reading or writing a control frame failed.
#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    /// The peer closed the connection.
    #[error("connection closed")]
    Closed,
    /// Frame over the limit.
    #[error("control frame of {0} bytes exceeds the {MAX_CONTROL_FRAME}-byte limit")]
    TooLarge(usize),
    /// Not valid JSON for the expected type.
    #[error("malformed control message: {0}")]
    Malformed(String),
    /// Socket error.
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
}

/// Writes one message as a frame.
///
/// # Errors
/// `TooLarge` or `Io`.
///
/// # Examples
/// ```
/// use ringlog_ring::protocol::control_message::{read_frame, write_frame, Request};
/// let mut buf = Vec::new();
/// write_frame(&mut buf, &Request::Status).unwrap();
/// let back: Request = read_frame(&mut &buf[..]).unwrap();
/// assert_eq!(back, Request::Status);
/// ```
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), FrameIoError> {
    let body = serde_json::to_vec(msg).map_err(|e| FrameIoError::Malformed(e.to_string()))?;
    if body.len() > MAX_CONTROL_FRAME {
        return Err(FrameIoError::TooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame)?;
    Ok(())
}

/// Reads one frame and decodes it.
///
/// # Errors
/// `Closed` at a clean EOF, `TooLarge`, `Malformed` or `Io`.
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> Result<T, FrameIoError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameIoError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_CONTROL_FRAME {
        return Err(FrameIoError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(|e| FrameIoError::Malformed(e.to_string()))
}
