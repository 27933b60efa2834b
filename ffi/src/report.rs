//! The plain C structs the library fills in: `rl_finish_report` and `rl_stats`.

use ringlog_core::FinishReport;
use ringlog_core::LaneCounters;

use crate::c_enums::{self, rl_run_state};

/// What `rl_finish` reports.
///
/// For the owner (the process that called `rl_init`) the counts cover the
/// whole run as the service wrote it; for an attached process (state
/// `RL_RUN_DETACHED`) they cover that process's own lane.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct rl_finish_report {
    /// Exit code recorded.
    pub exit_code: i32,
    /// How it ended.
    pub state: rl_run_state,
    /// Records written (key definitions included).
    pub records: u64,
    /// Payload bytes written.
    pub bytes: u64,
    /// Records dropped by `RL_POLICY_DROP`.
    pub drops: u64,
    /// Records refused after an `RL_POLICY_BLOCK` timeout.
    pub timeouts: u64,
    /// Frames the service rejected as invalid.
    pub invalid_frames: u64,
    /// Lanes whose producer process died without detaching.
    pub abandoned_lanes: u32,
    /// Wall time from init (or attach) to finish, in milliseconds.
    pub runtime_ms: u64,
}

impl From<&FinishReport> for rl_finish_report {
    fn from(r: &FinishReport) -> Self {
        Self {
            exit_code: r.exit_code,
            state: c_enums::run_state(r.state.as_str()),
            records: r.records,
            bytes: r.bytes,
            drops: r.drops,
            timeouts: r.timeouts,
            invalid_frames: r.invalid_frames,
            abandoned_lanes: r.abandoned_lanes,
            runtime_ms: r.runtime_ms,
        }
    }
}

/// Counters of this handle's lane (`rl_run_stats`), as its producer last
/// published them.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct rl_stats {
    /// Records committed to the lane (key definitions included).
    pub records: u64,
    /// Payload bytes committed.
    pub bytes: u64,
    /// Records dropped by `RL_POLICY_DROP`.
    pub drops: u64,
    /// Records refused after an `RL_POLICY_BLOCK` timeout.
    pub timeouts: u64,
    /// This handle's lane id within the run (the `_lane` column of exports).
    pub lane: u32,
}

impl rl_stats {
    /// Stats from a lane's counters.
    pub(crate) fn new(c: LaneCounters, lane: u16) -> Self {
        Self { records: c.records, bytes: c.bytes, drops: c.drops, timeouts: c.timeouts, lane: u32::from(lane) }
    }
}
