//! The record schema: what a run logs, as rkyv archives.
//!
//! Each record kind is its own rkyv root type, named by the kind byte in the
//! frame header, so a frame's payload is exactly one archive and readers never
//! guess. Archived types are **frozen once released**: a new field is a new
//! kind or a bump of that kind's format byte, and readers keep reading every
//! format they ever accepted. rkyv's format features (little-endian, aligned,
//! 32-bit relative pointers) are pinned in the workspace `Cargo.toml`.
//!
//! Keys are interned per lane: a producer writes one [`KeyDef`] frame the first
//! time it uses a name, and later records carry the numeric id. Nested keys
//! are written with `/` (`train/loss`); exporters split them.
//!
//! Timestamps (`ts_ns`) are Unix nanoseconds from `CLOCK_REALTIME_COARSE`
//! (see [`crate::ring::clock`]): a few ns per read, with the resolution of the kernel
//! tick (1-4 ms), which is finer than any training step needs.
//!
//! **Trust:** payload bytes read from shared memory are untrusted. They are
//! copied into private memory and checked with `rkyv::access` (bytecheck)
//! there; `access_unchecked` is used only on private bytes that passed that
//! check (see `Batch`).

use rkyv::{Archive, Deserialize, Serialize};

/// Record format version of every kind this build writes.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// An interned key id, valid on the lane (producer) that defined it.
///
/// # Examples
/// ```
/// let run = ringlog_ring::HeapRun::new(4096, 1).unwrap();
/// let mut p = run.claim(0, Default::default()).unwrap();
/// let k = p.key("train/loss").unwrap();
/// assert_eq!(p.key("train/loss").unwrap(), k);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub u32);

/// A logged value.
///
/// # Examples
/// ```
/// use ringlog_ring::Value;
/// let v: Value = 0.5f64.into();
/// assert_eq!(v, Value::F64(0.5));
/// ```
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub enum Value {
    /// A float.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    Str(String),
    /// A float array (a tensor or histogram).
    F32Array(Vec<f32>),
    /// A JSON document as text.
    Json(String),
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::F64(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<Vec<f32>> for Value {
    fn from(v: Vec<f32>) -> Self {
        Self::F32Array(v)
    }
}

/// One `key id = value` pair.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct Item {
    /// Interned key id (from a [`KeyDef`] in the same lane).
    pub key: u32,
    /// The value.
    pub value: Value,
}

/// Defines key `id` as `name` for the rest of the lane.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct KeyDef {
    /// Id later records use.
    pub id: u32,
    /// Full key name, `/`-separated when nested.
    pub name: String,
}

/// The fixed-layout fast path: one scalar at one step (32 bytes archived,
/// 48 with the frame header).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[rkyv(derive(Debug))]
pub struct Scalar1 {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// Training step.
    pub step: i64,
    /// The value.
    pub value: f64,
    /// Key id.
    pub key: u32,
    /// Zero; keeps the archive free of implicit padding.
    pub reserved: u32,
}

/// One scalar of a [`Scalars`] record.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[rkyv(derive(Debug))]
pub struct ScalarItem {
    /// Key id.
    pub key: u32,
    /// Zero; keeps the archive free of implicit padding.
    pub reserved: u32,
    /// The value.
    pub value: f64,
}

/// Several scalars at one step; the common shape of a training step.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct Scalars {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// Training step.
    pub step: i64,
    /// The scalars.
    pub items: Vec<ScalarItem>,
}

/// A history row with values of any type.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct History {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// Training step.
    pub step: i64,
    /// The values.
    pub items: Vec<Item>,
}

/// Summary updates (last value wins).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct Summary {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// The values.
    pub items: Vec<Item>,
}

/// Config updates.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct Config {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// The values.
    pub items: Vec<Item>,
}

/// Which stream an output line came from.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[repr(u8)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of console output.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct OutputLine {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// Source stream.
    pub stream: Stream,
    /// The line, without its newline.
    pub line: String,
}

/// System statistics sample (GPU util, memory, ...).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct SystemStats {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// The values.
    pub items: Vec<Item>,
}

/// Alert severity.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[repr(u8)]
pub enum AlertLevel {
    /// Informational.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// An alert raised by the trainer.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[rkyv(derive(Debug))]
pub struct Alert {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// Severity.
    pub level: AlertLevel,
    /// Short title.
    pub title: String,
    /// Body text.
    pub text: String,
}

/// The run's exit, written by the owner at finish.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[rkyv(derive(Debug))]
pub struct Exit {
    /// Unix ns, coarse clock.
    pub ts_ns: u64,
    /// Process exit code.
    pub exit_code: i32,
    /// Zero; keeps the archive free of implicit padding.
    pub reserved: u32,
}

/// The kind byte of a frame; each names one root type above.
///
/// # Examples
/// ```
/// use ringlog_ring::RecordKind;
/// assert_eq!(RecordKind::from_u8(2), Some(RecordKind::Scalar1));
/// assert_eq!(RecordKind::from_u8(200), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// [`KeyDef`]
    KeyDef = 1,
    /// [`Scalar1`]
    Scalar1 = 2,
    /// [`Scalars`]
    Scalars = 3,
    /// [`History`]
    History = 4,
    /// [`Summary`]
    Summary = 5,
    /// [`Config`]
    Config = 6,
    /// [`OutputLine`]
    Output = 7,
    /// [`SystemStats`]
    Stats = 8,
    /// [`Alert`]
    Alert = 9,
    /// [`Exit`]
    Exit = 10,
}

impl RecordKind {
    /// Decodes a kind byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::KeyDef,
            2 => Self::Scalar1,
            3 => Self::Scalars,
            4 => Self::History,
            5 => Self::Summary,
            6 => Self::Config,
            7 => Self::Output,
            8 => Self::Stats,
            9 => Self::Alert,
            10 => Self::Exit,
            _ => return None,
        })
    }
}

/// A type that is the root of one record kind's payload.
pub trait Record:
    for<'a> Serialize<
    rkyv::api::high::HighSerializer<
        crate::ring::slot_writer::SlotWriter,
        rkyv::ser::allocator::ArenaHandle<'a>,
        rkyv::rancor::Error,
    >,
>
{
    /// The kind byte frames of this type carry.
    const KIND: RecordKind;
}

macro_rules! record_kinds {
    ($($ty:ident => $kind:ident),* $(,)?) => {
        $(impl Record for $ty { const KIND: RecordKind = RecordKind::$kind; })*

        /// A validated record, borrowed from a private (never shared) buffer.
        #[derive(Debug, Clone, Copy)]
        pub enum RecordRef<'a> {
            $(
                #[doc = concat!("A [`", stringify!($ty), "`].")]
                $kind(&'a <$ty as Archive>::Archived),
            )*
        }

        /// Checks `payload` with rkyv's validation (bytecheck) for `kind`.
        fn validate_rkyv(kind: RecordKind, payload: &[u8]) -> bool {
            use rkyv::rancor::Failure;
            match kind {
                $(RecordKind::$kind => rkyv::access::<<$ty as Archive>::Archived, Failure>(payload).is_ok(),)*
            }
        }

        /// Views a payload that [`validate`] accepted.
        ///
        /// # Safety
        /// `payload` passed `validate(kind, payload)` and has not changed since.
        pub unsafe fn view_validated(kind: RecordKind, payload: &[u8]) -> RecordRef<'_> {
            match kind {
                $(
                    // SAFETY: the caller guarantees these exact bytes passed the
                    // bytecheck validation for this root type.
                    RecordKind::$kind => RecordRef::$kind(unsafe {
                        rkyv::access_unchecked::<<$ty as Archive>::Archived>(payload)
                    }),
                )*
            }
        }
    };
}

record_kinds! {
    KeyDef => KeyDef,
    Scalar1 => Scalar1,
    Scalars => Scalars,
    History => History,
    Summary => Summary,
    Config => Config,
    OutputLine => Output,
    SystemStats => Stats,
    Alert => Alert,
    Exit => Exit,
}

/// Checks `payload` as the archive of `kind`.
pub fn validate(kind: RecordKind, payload: &[u8]) -> bool {
    if kind == RecordKind::Scalar1 {
        // The hot record: every field is a fixed-size integer or float, for
        // which every bit pattern is valid (bytecheck's check is a no-op), so
        // exact length and alignment are the whole check.
        // `scalar1_fast_check_agrees_with_rkyv` pins this to rkyv.
        return payload.len() == size_of::<ArchivedScalar1>()
            && (payload.as_ptr() as usize).is_multiple_of(align_of::<ArchivedScalar1>());
    }
    validate_rkyv(kind, payload)
}

/// Checks a payload of `kind` with the given format byte, for readers of run
/// logs and lanes.
///
/// # Errors
/// A message naming the unsupported format or the failed validation.
///
/// # Examples
/// ```
/// use ringlog_ring::{RecordKind, RecordRef, Scalar1};
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&Scalar1 { ts_ns: 1, step: 2, value: 0.5, key: 0, reserved: 0 }).unwrap();
/// let rec = ringlog_ring::record::schema::check(RecordKind::Scalar1, 1, &bytes).unwrap();
/// assert!(matches!(rec, RecordRef::Scalar1(s) if s.step == 2));
/// assert!(ringlog_ring::record::schema::check(RecordKind::Scalar1, 9, &bytes).is_err());
/// ```
pub fn check(kind: RecordKind, format: u8, payload: &[u8]) -> Result<RecordRef<'_>, String> {
    if format != RECORD_FORMAT_VERSION {
        return Err(format!(
            "{kind:?} record has format version {format}; this build reads version {RECORD_FORMAT_VERSION}: upgrade ringlog"
        ));
    }
    if !validate(kind, payload) {
        return Err(format!("{kind:?} record of {} bytes failed validation", payload.len()));
    }
    // SAFETY: validated just above; `payload` is borrowed immutably for the result's life.
    Ok(unsafe { view_validated(kind, payload) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[repr(C, align(16))]
    struct Aligned([u8; 48]);

    proptest! {
        /// The Scalar1 fast check never accepts what rkyv's validation rejects
        /// (it is stricter: exactly one 32-byte archive, which is all a
        /// producer writes), and agrees with rkyv on every 32-byte payload.
        #[test]
        fn scalar1_fast_check_agrees_with_rkyv(bytes in proptest::collection::vec(any::<u8>(), 0..48), shift in 0usize..16) {
            let mut buf = Aligned([0; 48]);
            let n = bytes.len().min(48 - shift);
            buf.0[shift..shift + n].copy_from_slice(&bytes[..n]);
            let payload = &buf.0[shift..shift + n];
            let fast = validate(RecordKind::Scalar1, payload);
            let rkyv_ok = rkyv::access::<ArchivedScalar1, rkyv::rancor::Failure>(payload).is_ok();
            prop_assert!(!fast || rkyv_ok, "fast check accepted what rkyv rejects");
            if n == 32 {
                prop_assert_eq!(fast, rkyv_ok);
            }
        }
    }
}
