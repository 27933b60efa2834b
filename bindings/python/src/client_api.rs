//! The one place where the binding calls the Rust client API of the `ringlog`
//! crate (`init`, `attach`, `Run`, `InitOptions`, `KeyId`, `Value`, the
//! segment's lane statistics).
//!
//! Everything else in the binding goes through [`Handle`] and the re-exported
//! types, so a change of the client API (crate path, `Run::log` returning an
//! outcome, `FinishReport::state` as an enum) is adapted here only. The CLI is
//! compiled in separately (`cli.rs`).

use std::path::PathBuf;
use std::time::Duration;

pub use ringlog::{ClientError, KeyId, ProduceError, Value};

/// What [`init`] needs; the binding's own copy of the client's options so
/// the rest of the binding does not name `ringlog::InitOptions`.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Project name.
    pub project: String,
    /// Display name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Config as a JSON object.
    pub config: serde_json::Value,
    /// Run directory (absolute, or made absolute by the client).
    pub run_dir: Option<PathBuf>,
    /// Run id (default: the client picks one).
    pub run_id: Option<String>,
    /// Ring bytes per lane (default: the client's, `RINGLOG_LANE_BYTES` or 1 MiB).
    pub lane_bytes: Option<usize>,
    /// Also a live W&B offline run (default: the client's, `RINGLOG_WANDB=1`).
    pub wandb: Option<bool>,
}

/// The end of a run as the service reported it.
#[derive(Debug, Clone, Default)]
pub struct FinishSummary {
    /// `finished`, `crashed` or `detached` (a non-owner's finish).
    pub state: String,
    /// Exit code recorded.
    pub exit_code: i32,
    /// Records in the run log (owner) or written by this process (non-owner).
    pub records: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Records dropped by the run's policy.
    pub drops: u64,
    /// Block timeouts.
    pub timeouts: u64,
    /// Frames the service rejected.
    pub invalid_frames: u64,
    /// Lanes whose producer died.
    pub abandoned_lanes: u32,
    /// Wall time, ms.
    pub runtime_ms: u64,
}

/// How full this process's lane is: `capacity - fill` bytes are free.
#[derive(Debug, Clone, Copy)]
pub struct LaneRoom {
    /// Bytes written and not yet released by the service.
    pub fill: u64,
    /// Ring bytes of the lane.
    pub capacity: u64,
}

/// Bytes written into this process's lane so far (frames and payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Frames committed (records and key definitions).
    pub records: u64,
    /// Payload bytes committed.
    pub bytes: u64,
}

/// This process's handle on a run: the client's `Run` plus a read-only view
/// of its lane's fill, used to release the GIL before a write that could block.
pub struct Handle {
    run: ringlog::Run,
}

/// Starts a run owned by this process (auto-starts the service).
///
/// # Errors
/// The client's: no service, service refusal, segment errors.
pub fn init(opts: StartOptions) -> Result<Handle, ClientError> {
    // Config values travel as JSON text: the client records them as such and
    // sends them to the service parsed back (its `InitOptions::config`).
    let config = match opts.config {
        serde_json::Value::Object(map) => map.into_iter().map(|(k, v)| (k, Value::Json(v.to_string()))).collect(),
        _ => Vec::new(),
    };
    let defaults = ringlog::InitOptions::default();
    let run = ringlog::init(ringlog::InitOptions {
        wandb: opts.wandb.unwrap_or(defaults.wandb),
        project: opts.project,
        name: opts.name,
        tags: opts.tags,
        config,
        run_dir: opts.run_dir,
        run_id: opts.run_id,
        lane_bytes: opts.lane_bytes,
        ..defaults
    })?;
    Ok(Handle::new(run))
}

/// Adds this process to run `run_id`, with a lane of its own.
///
/// # Errors
/// The client's: no service, unknown run, segment errors.
pub fn attach(run_id: &str) -> Result<Handle, ClientError> {
    Ok(Handle::new(ringlog::attach(run_id)?))
}

impl Handle {
    fn new(run: ringlog::Run) -> Self {
        Self { run }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        self.run.run_id()
    }

    /// The run directory.
    pub fn run_dir(&self) -> String {
        self.run.run_dir().display().to_string()
    }

    /// This process's lane.
    pub fn lane(&self) -> u16 {
        self.run.lane()
    }

    /// Whether this handle was inherited across `fork()` (it refuses to write).
    pub fn is_forked(&self) -> bool {
        self.run.is_forked()
    }

    /// Frames and payload bytes this handle's lane has committed.
    pub fn written(&self) -> Written {
        let c = self.run.counters();
        Written { records: c.records, bytes: c.bytes }
    }

    /// The lane's fill and capacity right now (reads the service's index:
    /// a cross-core cache miss, so callers do it rarely). `None` if the
    /// segment could not be opened.
    pub fn room(&self) -> Option<LaneRoom> {
        let (fill, capacity) = self.run.lane_fill();
        Some(LaneRoom { fill, capacity })
    }

    /// Interns a key name; the first use writes its definition into the lane.
    ///
    /// # Errors
    /// Invalid name, full lane per the run's policy, use after fork.
    pub fn key(&mut self, name: &str) -> Result<KeyId, ClientError> {
        self.run.key(name)
    }

    /// The fast path: scalars by key id at `step`, one frame, no allocation.
    ///
    /// # Errors
    /// Full lane per the run's policy, use after fork.
    pub fn log(&mut self, step: i64, items: &[(KeyId, f64)]) -> Result<(), ClientError> {
        // A record dropped by the DropNewest policy is counted in the lane's
        // drops, which the finish report carries.
        self.run.log(step, items).map(drop)
    }

    /// Values of any type by name at `step` (one history record).
    ///
    /// # Errors
    /// As [`Handle::log`], plus invalid key names.
    pub fn log_values(&mut self, step: i64, items: &[(&str, Value)]) -> Result<(), ClientError> {
        self.run.log_values(step, items).map(drop)
    }

    /// Summary values (last write wins).
    ///
    /// # Errors
    /// As [`Handle::log_values`].
    pub fn summary(&mut self, items: &[(&str, Value)]) -> Result<(), ClientError> {
        self.run.summary(items).map(drop)
    }

    /// Config values.
    ///
    /// # Errors
    /// As [`Handle::log_values`].
    pub fn config(&mut self, items: &[(&str, Value)]) -> Result<(), ClientError> {
        self.run.config(items).map(drop)
    }

    /// Waits until the service took everything out of this lane.
    ///
    /// # Errors
    /// Use after fork.
    pub fn flush(&mut self, timeout: Duration) -> Result<bool, ClientError> {
        self.run.flush(timeout)
    }

    /// Finishes the run (owner) or detaches (any other process).
    ///
    /// # Errors
    /// The service failing to finish within its bound, use after fork.
    pub fn finish(self, exit_code: i32) -> Result<FinishSummary, ClientError> {
        let r = self.run.finish(exit_code)?;
        Ok(FinishSummary {
            state: r.state.to_string(),
            exit_code: r.exit_code,
            records: r.records,
            bytes: r.bytes,
            drops: r.drops,
            timeouts: r.timeouts,
            invalid_frames: r.invalid_frames,
            abandoned_lanes: r.abandoned_lanes,
            runtime_ms: r.runtime_ms,
        })
    }

    /// Forgets a handle inherited across `fork()` without touching the
    /// parent's run (its `Drop` does nothing in a forked child).
    pub fn forget_forked(self) {
        debug_assert!(self.is_forked());
        drop(self);
    }
}
