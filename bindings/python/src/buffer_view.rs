//! Numbers read through the buffer protocol: numpy arrays (any numeric dtype,
//! C-contiguous) as one `f32` array, and numpy scalars (0-d buffers) as one
//! value, without touching Python objects element by element.
//!
//! `PyObject_GetBuffer`, `PyBuffer_Release` and `Py_buffer` entered the
//! limited API only in CPython 3.11, so pyo3's ffi omits them in an abi3-py39
//! build. They are declared here: both functions are exported by every
//! CPython 3 and `Py_buffer`'s layout has not changed since 3.3; 3.11 made
//! that layout part of the stable ABI as it already was.

use std::ffi::{CStr, c_char, c_int, c_void};

use pyo3::ffi::{Py_ssize_t, PyObject};

/// CPython's `Py_buffer` (Include/pybuffer.h), field for field.
#[repr(C)]
struct RawBuffer {
    buf: *mut c_void,
    obj: *mut PyObject,
    len: Py_ssize_t,
    itemsize: Py_ssize_t,
    readonly: c_int,
    ndim: c_int,
    format: *mut c_char,
    shape: *mut Py_ssize_t,
    strides: *mut Py_ssize_t,
    suboffsets: *mut Py_ssize_t,
    internal: *mut c_void,
}

unsafe extern "C" {
    fn PyObject_GetBuffer(obj: *mut PyObject, view: *mut RawBuffer, flags: c_int) -> c_int;
    fn PyBuffer_Release(view: *mut RawBuffer);
}

/// `PyBUF_FORMAT | PyBUF_C_CONTIGUOUS` (`PyBUF_STRIDES | 0x20`, `PyBUF_STRIDES = 0x10 | PyBUF_ND`).
const FLAGS: c_int = 0x0004 | 0x0020 | 0x0010 | 0x0008;

/// What a buffer held.
#[derive(Debug, Clone, PartialEq)]
pub enum BufferValue {
    /// A 0-d float buffer (numpy float scalars).
    Float(f64),
    /// A 0-d integer buffer.
    Int(i128),
    /// A 0-d bool buffer.
    Bool(bool),
    /// Any n-d numeric buffer, flattened in C order.
    Array(Vec<f32>),
}

/// Element types the binding reads.
#[derive(Clone, Copy)]
enum Elem {
    F16,
    F32,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
}

impl Elem {
    /// From a struct-module format with native or little byte order.
    fn parse(format: &[u8], itemsize: usize) -> Option<Self> {
        let code = match format {
            [b'@' | b'=' | b'<', c] | [c] => *c,
            _ => return None,
        };
        let (elem, size) = match code {
            b'e' => (Self::F16, 2),
            b'f' => (Self::F32, 4),
            b'd' => (Self::F64, 8),
            b'b' => (Self::I8, 1),
            b'B' => (Self::U8, 1),
            b'h' => (Self::I16, 2),
            b'H' => (Self::U16, 2),
            b'i' => (Self::I32, 4),
            b'I' => (Self::U32, 4),
            b'l' | b'q' | b'n' => (Self::I64, 8),
            b'L' | b'Q' | b'N' => (Self::U64, 8),
            b'?' => (Self::Bool, 1),
            _ => return None,
        };
        (size == itemsize).then_some(elem)
    }

    fn size(self) -> usize {
        match self {
            Self::I8 | Self::U8 | Self::Bool => 1,
            Self::F16 | Self::I16 | Self::U16 => 2,
            Self::F32 | Self::I32 | Self::U32 => 4,
            Self::F64 | Self::I64 | Self::U64 => 8,
        }
    }
}

/// Reads `obj` through the buffer protocol.
///
/// Returns `None` (with no Python error set) when `obj` has no buffer, is
/// not C-contiguous, or holds something other than numbers in native or
/// little-endian order: the caller then tries the Python-side coercion.
///
/// # Safety
/// The GIL is held and `obj` is a valid object pointer.
pub unsafe fn read(obj: *mut PyObject) -> Option<BufferValue> {
    let mut view = std::mem::MaybeUninit::<RawBuffer>::zeroed();
    // SAFETY: GIL held, `obj` valid (caller); `view` is writable storage for
    // one Py_buffer. On failure the exception is cleared and nothing is held.
    if unsafe { PyObject_GetBuffer(obj, view.as_mut_ptr(), FLAGS) } != 0 {
        // SAFETY: GIL held.
        unsafe { pyo3::ffi::PyErr_Clear() };
        return None;
    }
    // SAFETY: filled in by a successful PyObject_GetBuffer.
    let mut view = unsafe { view.assume_init() };
    // SAFETY: the view is live until the release below.
    let out = unsafe { decode(&view) };
    // SAFETY: releases the view obtained above, exactly once.
    unsafe { PyBuffer_Release(&mut view) };
    out
}

/// # Safety
/// `view` is a live buffer view obtained with `FLAGS`.
unsafe fn decode(view: &RawBuffer) -> Option<BufferValue> {
    if view.format.is_null() || view.itemsize <= 0 || view.len < 0 || view.buf.is_null() && view.len > 0 {
        return None;
    }
    // SAFETY: PyBUF_FORMAT was requested, so `format` is a NUL-terminated string.
    let format = unsafe { CStr::from_ptr(view.format) }.to_bytes();
    let elem = Elem::parse(format, view.itemsize as usize)?;
    let count = view.len as usize / elem.size();
    let base = view.buf as *const u8;
    // SAFETY: (the closure) `i < count`, and the C-contiguous buffer holds
    // `count` items of `elem.size()` bytes from `base`; reads are unaligned-safe.
    let at = |i: usize| unsafe { base.add(i * elem.size()) };
    if view.ndim == 0 {
        if count != 1 {
            return None;
        }
        // SAFETY: one item at `base` (checked above).
        return Some(unsafe { scalar(elem, at(0)) });
    }
    let mut out = Vec::with_capacity(count);
    match elem {
        Elem::F32 => {
            // SAFETY: `count` f32 values at `base`; copied bytewise into the
            // vector's spare capacity, then the length is set to match.
            unsafe {
                std::ptr::copy_nonoverlapping(base, out.as_mut_ptr() as *mut u8, count * 4);
                out.set_len(count);
            }
        }
        _ => {
            for i in 0..count {
                // SAFETY: `i < count` (see `at`).
                let v = match unsafe { scalar(elem, at(i)) } {
                    BufferValue::Float(x) => x as f32,
                    BufferValue::Int(x) => x as f32,
                    BufferValue::Bool(b) => f32::from(u8::from(b)),
                    BufferValue::Array(_) => unreachable!("scalar() returns scalars"),
                };
                out.push(v);
            }
        }
    }
    Some(BufferValue::Array(out))
}

/// # Safety
/// `p` points to one readable item of type `elem`.
unsafe fn scalar(elem: Elem, p: *const u8) -> BufferValue {
    // SAFETY: (all arms) `p` holds one item of the named type (caller).
    unsafe {
        match elem {
            Elem::F16 => BufferValue::Float(f64::from(f16_to_f32(p.cast::<u16>().read_unaligned()))),
            Elem::F32 => BufferValue::Float(f64::from(p.cast::<f32>().read_unaligned())),
            Elem::F64 => BufferValue::Float(p.cast::<f64>().read_unaligned()),
            Elem::I8 => BufferValue::Int(i128::from(p.cast::<i8>().read())),
            Elem::U8 => BufferValue::Int(i128::from(p.read())),
            Elem::I16 => BufferValue::Int(i128::from(p.cast::<i16>().read_unaligned())),
            Elem::U16 => BufferValue::Int(i128::from(p.cast::<u16>().read_unaligned())),
            Elem::I32 => BufferValue::Int(i128::from(p.cast::<i32>().read_unaligned())),
            Elem::U32 => BufferValue::Int(i128::from(p.cast::<u32>().read_unaligned())),
            Elem::I64 => BufferValue::Int(i128::from(p.cast::<i64>().read_unaligned())),
            Elem::U64 => BufferValue::Int(i128::from(p.cast::<u64>().read_unaligned())),
            Elem::Bool => BufferValue::Bool(p.read() != 0),
        }
    }
}

/// IEEE half to single precision (exact: every half is a single).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match exp {
        0 if man == 0 => sign,
        0 => {
            // Subnormal: man * 2^-24.
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        0x1f => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn halves() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }
}
