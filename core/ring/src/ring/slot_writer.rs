//! The rkyv writer a producer serializes records through, straight into its
//! claimed frame.

/// An rkyv writer over raw ring bytes (the frame a producer claimed): no `&mut [u8]` is ever made over the
/// ring, only pointer writes into the claimed, uncommitted frame.
pub struct SlotWriter {
    ptr: *mut u8,
    cap: usize,
    pos: usize,
}

impl SlotWriter {
    /// # Safety
    /// `ptr` is valid for `cap` byte writes, and nobody else reads or writes
    /// those bytes until the frame is committed.
    pub(crate) unsafe fn new(ptr: *mut u8, cap: usize) -> Self {
        Self { ptr, cap, pos: 0 }
    }
}

impl SlotWriter {
    /// Bytes written so far.
    pub(crate) fn written(&self) -> usize {
        self.pos
    }
}

impl rkyv::ser::Positional for SlotWriter {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl<E: rkyv::rancor::Source> rkyv::ser::Writer<E> for SlotWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        if bytes.len() > self.cap - self.pos {
            return Err(E::new(SlotFull));
        }
        // SAFETY: pos + len <= cap, so the copy stays inside the bytes the
        // constructor's contract makes ours; `bytes` is private memory.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.pos), bytes.len()) };
        self.pos += bytes.len();
        Ok(())
    }
}

/// The record does not fit the space claimed for it.
#[derive(Debug)]
struct SlotFull;

impl std::fmt::Display for SlotFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record does not fit the claimed frame")
    }
}

impl std::error::Error for SlotFull {}
