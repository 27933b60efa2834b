//! Python values to ringlog values.
//!
//! Order of the checks, cheapest and most common first: exact `float` (the
//! hot path, no call), `bool`, `int` (to i64, larger ints refused), other
//! floats (`numpy.float64` is a `float`), `str`, `None` (skipped), `dict`
//! (flattened by the caller), lists and tuples of numbers, then the buffer
//! protocol (numpy arrays and numpy scalars), then the Python-side coercion
//! registered by the package (`ringlog._values.coerce`: torch tensors,
//! non-contiguous or big-endian arrays), whose answer is converted once more.

use std::os::raw::c_int;

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

use crate::buffer_view::{self, BufferValue};
use crate::client_api::Value;

/// A converted value.
pub enum Converted<'py> {
    /// A float: the fast path's kind.
    F64(f64),
    /// Any other value.
    Other(Value),
    /// `None`: nothing is logged for the key.
    Skip,
    /// A dict: its items are logged as `key/subkey`.
    Nested(Bound<'py, PyDict>),
}

/// Why a value was refused (the caller adds the key to the message).
pub enum Refused {
    /// Not a supported type (its qualified name).
    Type(String),
    /// An integer outside i64 (its text).
    Overflow(String),
    /// A Python error raised while converting.
    Py(PyErr),
}

impl Refused {
    /// The Python exception, naming `key`.
    pub fn into_err(self, key: &str) -> PyErr {
        match self {
            Self::Type(t) => PyTypeError::new_err(format!(
                "ringlog cannot log key '{key}': values of type {t} are not supported \
                 (use float, int, bool, str, None, a dict, a list or array of numbers, or a tensor)"
            )),
            Self::Overflow(v) => PyOverflowError::new_err(format!(
                "ringlog cannot log key '{key}': the int {v} does not fit in 64 bits (log it as a float or str)"
            )),
            Self::Py(e) => e,
        }
    }
}

static COERCE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Registers the package's coercion hook, called for values the native checks do not know.
#[pyfunction]
pub fn _set_coerce(py: Python<'_>, hook: Py<PyAny>) {
    let _ = COERCE.set(py, hook);
}

/// `float(obj)` of an exact float, inline where the ABI allows it.
///
/// # Safety
/// GIL held; `obj` is a valid exact `float`.
#[inline(always)]
pub unsafe fn float_value(obj: *mut ffi::PyObject) -> f64 {
    #[cfg(not(feature = "abi3"))]
    // SAFETY: an exact float (caller).
    return unsafe { ffi::PyFloat_AS_DOUBLE(obj) };
    #[cfg(feature = "abi3")]
    // SAFETY: an exact float (caller); cannot fail for one.
    return unsafe { ffi::PyFloat_AsDouble(obj) };
}

/// Whether `obj` is exactly a `float` (one pointer compare).
///
/// # Safety
/// GIL held; `obj` valid.
#[inline(always)]
pub unsafe fn is_exact_float(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: valid object (caller); the float type object is static.
    unsafe { ffi::Py_TYPE(obj) == &raw mut ffi::PyFloat_Type }
}

/// Converts any value (the slow path: everything but an exact float).
pub fn convert<'py>(obj: &Bound<'py, PyAny>) -> Result<Converted<'py>, Refused> {
    convert_inner(obj, true)
}

fn convert_inner<'py>(obj: &Bound<'py, PyAny>, coerce: bool) -> Result<Converted<'py>, Refused> {
    let py = obj.py();
    let p = obj.as_ptr();
    // SAFETY: (all ffi checks below) the GIL is held and `p` is a live object.
    unsafe {
        if is_exact_float(p) {
            return Ok(Converted::F64(float_value(p)));
        }
        if p == ffi::Py_True() || p == ffi::Py_False() {
            return Ok(Converted::Other(Value::Bool(p == ffi::Py_True())));
        }
        if ffi::PyLong_Check(p) != 0 {
            return int_value(obj).map(|v| Converted::Other(Value::I64(v)));
        }
        if ffi::PyFloat_Check(p) != 0 {
            let v = ffi::PyFloat_AsDouble(p);
            if v == -1.0
                && let Some(e) = PyErr::take(py)
            {
                return Err(Refused::Py(e));
            }
            return Ok(Converted::F64(v));
        }
        if ffi::PyUnicode_Check(p) != 0 {
            let s = obj.cast::<PyString>().map_err(|e| Refused::Py(e.into()))?;
            return Ok(Converted::Other(Value::Str(s.to_cow().map_err(Refused::Py)?.into_owned())));
        }
        if p == ffi::Py_None() {
            return Ok(Converted::Skip);
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            return Ok(Converted::Nested(d.clone()));
        }
        if ffi::PyList_Check(p) != 0 || ffi::PyTuple_Check(p) != 0 {
            if let Some(v) = number_list(obj)? {
                return Ok(Converted::Other(Value::F32Array(v)));
            }
        } else if ffi::PyBytes_Check(p) == 0 && ffi::PyByteArray_Check(p) == 0 {
            match buffer_view::read(p) {
                Some(BufferValue::Float(x)) => return Ok(Converted::F64(x)),
                Some(BufferValue::Int(x)) => {
                    return i64::try_from(x)
                        .map(|v| Converted::Other(Value::I64(v)))
                        .map_err(|_| Refused::Overflow(x.to_string()));
                }
                Some(BufferValue::Bool(b)) => return Ok(Converted::Other(Value::Bool(b))),
                Some(BufferValue::Array(v)) => return Ok(Converted::Other(Value::F32Array(v))),
                None => {}
            }
        }
    }
    if coerce && let Some(hook) = COERCE.get(py) {
        let out = hook.bind(py).call1((obj,)).map_err(Refused::Py)?;
        if !out.is(py.NotImplemented()) {
            return convert_inner(&out, false);
        }
    }
    Err(Refused::Type(type_name(obj)))
}

/// An int as i64, or `Overflow`.
fn int_value(obj: &Bound<'_, PyAny>) -> Result<i64, Refused> {
    let mut overflow: c_int = 0;
    // SAFETY: GIL held, `obj` is an int.
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow != 0 {
        return Err(Refused::Overflow(obj.str().map(|s| s.to_string()).unwrap_or_default()));
    }
    if v == -1
        && let Some(e) = PyErr::take(obj.py())
    {
        return Err(Refused::Py(e));
    }
    Ok(v)
}

/// A list or tuple whose items are all floats, ints or bools, as f32s;
/// `None` if any item is something else (the coercion hook then decides).
fn number_list(obj: &Bound<'_, PyAny>) -> Result<Option<Vec<f32>>, Refused> {
    let p = obj.as_ptr();
    // SAFETY: GIL held; `p` is a list or tuple (checked by the caller), and
    // items are borrowed only within this loop, which runs no Python code.
    unsafe {
        let is_list = ffi::PyList_Check(p) != 0;
        let n = if is_list { ffi::PyList_Size(p) } else { ffi::PyTuple_Size(p) };
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for i in 0..n {
            let item = if is_list { ffi::PyList_GetItem(p, i) } else { ffi::PyTuple_GetItem(p, i) };
            if item.is_null() {
                return Err(Refused::Py(PyErr::fetch(obj.py())));
            }
            let v = if is_exact_float(item) {
                float_value(item) as f32
            } else if item == ffi::Py_True() || item == ffi::Py_False() {
                f32::from(u8::from(item == ffi::Py_True()))
            } else if ffi::PyLong_Check(item) != 0 || ffi::PyFloat_Check(item) != 0 {
                let v = ffi::PyFloat_AsDouble(item);
                if v == -1.0
                    && let Some(e) = PyErr::take(obj.py())
                {
                    return Err(Refused::Py(e));
                }
                v as f32
            } else {
                return Ok(None);
            };
            out.push(v);
        }
        Ok(Some(out))
    }
}

/// `module.QualName` of `obj`'s type, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    let t = obj.get_type();
    let module = t.module().map(|m| m.to_string()).unwrap_or_default();
    let name = t.qualname().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    if module.is_empty() || module == "builtins" { name } else { format!("{module}.{name}") }
}

/// A JSON-ish Python value (config) as a ringlog value: scalars typed,
/// anything else as JSON text produced by the package.
pub fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        other => Value::Json(other.to_string()),
    }
}
