//! Knowing, without a system call or a shared cache line per record, that a
//! write will not block, so the GIL is released only around writes that might.
//!
//! Releasing and re-taking the GIL on every `log` would cost far more than the
//! write itself, and hands the GIL to any other thread that wants it. Instead
//! the gauge keeps a *credit*: bytes this process can certainly write before
//! the lane could be full. The credit is refreshed from the lane's real fill
//! (one read of the service's index) only when it runs out, about once per
//! three quarters of a lane (tens of thousands of records). A write that the
//! credit does not cover runs with the GIL released.
//!
//! Bytes per record are bounded from the lane's counters: payload bytes plus
//! 32 per frame (16 of header, under 16 of alignment). A refresh sets the
//! credit to `capacity - fill - capacity / 4`, reserving room for the one
//! padding frame a lap can need (a frame is at most a quarter of the ring).

use crate::client_api::{Handle, Written};

/// Credit of one lane (see the module docs).
#[derive(Default)]
pub struct LaneGauge {
    credit: u64,
    last: Written,
}

/// Bytes kept free beyond the quarter-ring padding reserve.
const MARGIN: u64 = 256;
/// Upper bound of the frame bytes a record adds beyond its payload.
const FRAME_OVERHEAD: u64 = 32;

impl LaneGauge {
    /// Starts counting from `handle`'s current counters, with no credit.
    pub fn reset(&mut self, handle: &Handle) {
        self.last = handle.written();
        self.credit = 0;
    }

    /// Whether a write of at most `need` bytes cannot block. Without a view of
    /// the lane (its segment could not be opened) this answers `true`: writes
    /// then keep the GIL, as a plain C extension would.
    #[inline]
    pub fn covers(&mut self, handle: &Handle, need: u64) -> bool {
        if self.credit >= need {
            return true;
        }
        let Some(room) = handle.room() else { return true };
        let reserve = room.capacity / 4 + MARGIN;
        self.credit = room.capacity.saturating_sub(room.fill.saturating_add(reserve));
        self.credit >= need
    }

    /// Charges what the last write used.
    #[inline]
    pub fn charge(&mut self, handle: &Handle) {
        let now = handle.written();
        let used = now.bytes.wrapping_sub(self.last.bytes)
            + now.records.wrapping_sub(self.last.records).wrapping_mul(FRAME_OVERHEAD);
        self.credit = self.credit.saturating_sub(used);
        self.last = now;
    }
}
