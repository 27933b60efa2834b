//! `NativeRun`: one process's handle on a run, with wandb's `log` semantics.
//!
//! The Python class `ringlog.Run` subclasses it and adds the wandb-shaped
//! rest (summary, config, context manager) in Python; everything per record
//! happens here.
//!
//! **Threads.** The state sits behind a mutex. A thread that finds it taken
//! waits with the GIL released, so a thread blocked in a write (which runs
//! without the GIL) can always finish.
//!
//! **Fork.** A handle inherited across `fork()` never writes into the
//! parent's lane: the first `log` in the child notices (one relaxed load in
//! the client), attaches the child to the run with a lane of its own, and
//! logs there. The inherited handle is forgotten without any control call.

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use pyo3::exceptions::{PyTypeError, PyUserWarning, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

use crate::client_api::{self, ClientError, FinishSummary, Handle, KeyId, StartOptions, Value};
use crate::errors::{RunFinishedError, client_error};
use crate::key_table::KeyTable;
use crate::lane_gauge::LaneGauge;
use crate::row::{Cell, Row};
use crate::value_conv::{self, Converted, float_value, is_exact_float, type_name};

static REATTACH_HOOK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Registers the function the package wants called after a forked child got
/// a lane of its own (it arranges the child's detach at exit).
#[pyfunction]
pub fn _set_reattach_hook(py: Python<'_>, hook: Py<PyAny>) {
    let _ = REATTACH_HOOK.set(py, hook);
}

/// Every run's state lock in this process, so a forked child can release the
/// ones a thread of its parent held at `fork()` (that thread does not exist
/// in the child, so its lock would never be released: the child deadlocked
/// on its first log).
static RUN_LOCKS: Mutex<Vec<Weak<Mutex<State>>>> = Mutex::new(Vec::new());

/// Called in a forked child right after `fork()` (`os.register_at_fork`),
/// while it has a single thread: every run lock still held belongs to a
/// thread that does not exist here, so it is released. The child then
/// reattaches with a lane of its own before writing anything, and never
/// touches the parent's lane.
#[pyfunction]
pub fn _after_fork_in_child() {
    if RUN_LOCKS.is_locked() {
        // SAFETY: the child has one thread, this one, and it holds none of
        // these locks (it is running this hook, not a run method), so a held
        // lock's owner is a thread of the parent that was not copied.
        unsafe { RUN_LOCKS.force_unlock() };
    }
    let mut locks = RUN_LOCKS.lock();
    locks.retain(|w| w.strong_count() > 0);
    for state in locks.iter().filter_map(Weak::upgrade) {
        if state.is_locked() {
            // SAFETY: see above.
            unsafe { state.force_unlock() };
        }
    }
}

/// Native part of `ringlog.Run`.
#[pyclass(subclass, frozen, module = "ringlog._native", name = "NativeRun")]
pub struct NativeRun {
    state: Arc<Mutex<State>>,
    run_id: String,
    run_dir: String,
}

struct State {
    /// `None` once finished.
    handle: Option<Handle>,
    /// The finish report, once finished.
    finished: Option<FinishSummary>,
    /// This process called init (its finish ends the run).
    owner: bool,
    /// A forked child that took a lane of its own.
    reattached: bool,
    keys: KeyTable,
    row: Row,
    /// wandb's current step: where the pending row goes.
    step: i64,
    gauge: LaneGauge,
    /// Reused buffer of the fast path.
    scalars: Vec<(KeyId, f64)>,
    run_id: String,
}

/// Upper bound of a value's bytes in a record (payload and item overhead).
fn value_bytes(v: &Value) -> u64 {
    48 + match v {
        Value::Str(s) | Value::Json(s) => s.len() as u64,
        Value::F32Array(a) => 4 * a.len() as u64,
        _ => 8,
    }
}

/// Runs one write, with the GIL released unless the gauge says it cannot block.
fn write<R: Send>(
    py: Python<'_>,
    handle: &mut Option<Handle>,
    gauge: &mut LaneGauge,
    need: u64,
    f: impl FnOnce(&mut Handle) -> Result<R, ClientError> + Send,
) -> PyResult<R> {
    let h = handle.as_mut().ok_or_else(|| RunFinishedError::new_err("the run is finished"))?;
    let r = if gauge.covers(h, need) { f(h) } else { py.detach(|| f(&mut *h)) };
    gauge.charge(h);
    r.map_err(client_error)
}

impl State {
    fn new(handle: Handle, owner: bool) -> Self {
        let mut gauge = LaneGauge::default();
        gauge.reset(&handle);
        Self {
            run_id: handle.run_id().to_owned(),
            handle: Some(handle),
            finished: None,
            owner,
            reattached: false,
            keys: KeyTable::default(),
            row: Row::default(),
            step: 0,
            gauge,
            scalars: Vec::with_capacity(64),
        }
    }

    /// Ready to write: not finished, and in a lane of this process (a forked
    /// child attaches here). Returns whether it just attached.
    #[inline]
    fn live(&mut self, py: Python<'_>) -> PyResult<bool> {
        match &self.handle {
            Some(h) if !h.is_forked() => Ok(false),
            Some(_) => self.reattach(py).map(|()| true),
            None => Err(RunFinishedError::new_err(format!(
                "run {} is finished; start a new one with ringlog.init()",
                self.run_id
            ))),
        }
    }

    #[cold]
    fn reattach(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(inherited) = self.handle.take() {
            inherited.forget_forked();
        }
        // The pending row and the key ids belong to the parent's lane.
        self.row.clear();
        self.keys.clear();
        let run_id = self.run_id.clone();
        let h = py.detach(move || client_api::attach(&run_id)).map_err(client_error)?;
        self.gauge.reset(&h);
        self.handle = Some(h);
        self.owner = false;
        self.reattached = true;
        Ok(())
    }

    /// The local index of `name`, interning it (a key definition in the lane).
    fn intern_name(&mut self, py: Python<'_>, name: &str) -> PyResult<u32> {
        if let Some(i) = self.keys.by_name(name) {
            return Ok(i);
        }
        let need = 64 + name.len() as u64;
        let id = write(py, &mut self.handle, &mut self.gauge, need, |h| h.key(name))?;
        Ok(self.keys.insert(name, id))
    }

    /// The local index of the key object `key`, caching its address.
    #[cold]
    fn intern_object(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<u32> {
        let s = key_str(key)?;
        let idx = self.intern_name(py, &s.to_cow()?)?;
        self.keys.remember(s, idx);
        Ok(idx)
    }

    /// Adds the items of `dict` to the row, keys prefixed by `prefix/`.
    fn add_items(&mut self, py: Python<'_>, dict: &Bound<'_, PyDict>, prefix: Option<&str>) -> PyResult<()> {
        let d = dict.as_ptr();
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k: *mut ffi::PyObject = std::ptr::null_mut();
        let mut v: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: GIL held and `d` is a dict. PyDict_Next returns borrowed
        // references, used as such only while no Python code runs; the slow
        // path takes owned references first. PyDict_Next stays memory-safe
        // even if Python code run by the slow path changes the dict.
        while unsafe { ffi::PyDict_Next(d, &mut pos, &mut k, &mut v) } != 0 {
            // SAFETY: `v` is a live borrowed value (see above).
            if prefix.is_none() && unsafe { is_exact_float(v) } {
                let idx = match self.keys.by_address(k as usize) {
                    Some(i) => i,
                    // SAFETY: `k` is a live borrowed key; the new Bound owns a reference.
                    None => self.intern_object(py, &unsafe { Bound::from_borrowed_ptr(py, k) })?,
                };
                // SAFETY: `v` is an exact float.
                let x = unsafe { float_value(v) };
                self.row.put(&mut self.keys, idx, Cell::F64(x));
                continue;
            }
            // SAFETY: live borrowed pointers; the Bounds own new references.
            let (key, value) = unsafe { (Bound::from_borrowed_ptr(py, k), Bound::from_borrowed_ptr(py, v)) };
            self.add_slow(py, &key, &value, prefix)?;
        }
        Ok(())
    }

    #[cold]
    fn add_slow(
        &mut self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        prefix: Option<&str>,
    ) -> PyResult<()> {
        let key = key_str(key)?;
        let full = || -> PyResult<String> {
            let k = key.to_cow()?;
            Ok(match prefix {
                Some(p) => format!("{p}/{k}"),
                None => k.into_owned(),
            })
        };
        let cell = match value_conv::convert(value) {
            Ok(Converted::F64(x)) => Cell::F64(x),
            Ok(Converted::Other(v)) => Cell::Other(v),
            Ok(Converted::Skip) => return Ok(()),
            Ok(Converted::Nested(d)) => return self.add_items(py, &d, Some(&full()?)),
            Err(r) => return Err(r.into_err(&full()?)),
        };
        let idx = match prefix {
            None => match self.keys.by_address(key.as_ptr() as usize) {
                Some(i) => i,
                None => self.intern_object(py, key.as_any())?,
            },
            Some(_) => self.intern_name(py, &full()?)?,
        };
        self.row.put(&mut self.keys, idx, cell);
        Ok(())
    }

    /// Writes the pending row at the current step (one record) and empties it.
    fn commit_row(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.row.is_empty() {
            return Ok(());
        }
        let step = self.step;
        let r = if self.row.all_f64 {
            self.scalars.clear();
            for (idx, cell) in &self.row.items {
                if let Cell::F64(v) = cell {
                    self.scalars.push((self.keys.entries[*idx as usize].id, *v));
                }
            }
            let items = &self.scalars;
            let need = 96 + 16 * items.len() as u64;
            write(py, &mut self.handle, &mut self.gauge, need, |h| h.log(step, items))
        } else {
            let keys = &self.keys;
            let items: Vec<(&str, Value)> =
                self.row.items.drain(..).map(|(idx, c)| (&*keys.entries[idx as usize].name, c.into_value())).collect();
            let need = 96 + items.iter().map(|(k, v)| k.len() as u64 + value_bytes(v)).sum::<u64>();
            write(py, &mut self.handle, &mut self.gauge, need, |h| h.log_values(step, &items))
        };
        self.row.clear();
        r
    }

    /// Flattened `(name, value)` pairs of a dict (summary updates).
    fn flat_items(dict: &Bound<'_, PyDict>, prefix: Option<&str>, out: &mut Vec<(String, Value)>) -> PyResult<()> {
        for (k, v) in dict.iter() {
            let k = key_str(&k)?.to_cow()?.into_owned();
            let name = match prefix {
                Some(p) => format!("{p}/{k}"),
                None => k,
            };
            match value_conv::convert(&v) {
                Ok(Converted::F64(x)) => out.push((name, Value::F64(x))),
                Ok(Converted::Other(x)) => out.push((name, x)),
                Ok(Converted::Skip) => {}
                Ok(Converted::Nested(d)) => Self::flat_items(&d, Some(&name), out)?,
                Err(r) => return Err(r.into_err(&name)),
            }
        }
        Ok(())
    }
}

/// `key` as a `str`, or a TypeError naming its type.
fn key_str<'a, 'py>(key: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyString>> {
    key.cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("ringlog keys must be str, got {}", type_name(key))))
}

fn report_dict<'py>(py: Python<'py>, f: &FinishSummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("state", &f.state)?;
    d.set_item("exit_code", f.exit_code)?;
    d.set_item("records", f.records)?;
    d.set_item("bytes", f.bytes)?;
    d.set_item("drops", f.drops)?;
    d.set_item("timeouts", f.timeouts)?;
    d.set_item("invalid_frames", f.invalid_frames)?;
    d.set_item("abandoned_lanes", f.abandoned_lanes)?;
    d.set_item("runtime_ms", f.runtime_ms)?;
    Ok(d)
}

impl NativeRun {
    /// The state, waiting for it with the GIL released if another thread holds it.
    #[inline]
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, State> {
        if let Some(g) = self.state.try_lock() {
            return g;
        }
        py.detach(|| self.state.lock())
    }

    fn after_reattach(py: Python<'_>) -> PyResult<()> {
        if let Some(hook) = REATTACH_HOOK.get(py) {
            hook.call0(py)?;
        }
        Ok(())
    }
}

#[pymethods]
impl NativeRun {
    /// Starts a run owned by this process, or with `attach_to`, joins run
    /// `attach_to` with a lane of this process's own. The service is started
    /// if none answers. The GIL is released while waiting on the service.
    #[new]
    #[pyo3(signature = (*, attach_to=None, project=None, name=None, tags=None, config_json=None, run_dir=None, run_id=None, lane_bytes=None, wandb=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        attach_to: Option<String>,
        project: Option<String>,
        name: Option<String>,
        tags: Option<Vec<String>>,
        config_json: Option<String>,
        run_dir: Option<PathBuf>,
        run_id: Option<String>,
        lane_bytes: Option<usize>,
        wandb: Option<bool>,
    ) -> PyResult<Self> {
        let (handle, owner) = match attach_to {
            Some(id) => (py.detach(move || client_api::attach(&id)).map_err(client_error)?, false),
            None => {
                let config = match config_json {
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| PyValueError::new_err(format!("config is not a JSON object: {e}")))?,
                    None => serde_json::Value::Object(Default::default()),
                };
                let opts = StartOptions {
                    project: project.unwrap_or_else(|| "default".into()),
                    name: name.unwrap_or_default(),
                    tags: tags.unwrap_or_default(),
                    config,
                    run_dir,
                    run_id,
                    lane_bytes,
                    wandb,
                };
                (py.detach(move || client_api::init(opts)).map_err(client_error)?, true)
            }
        };
        let (handle_run_id, handle_run_dir) = (handle.run_id().to_owned(), handle.run_dir());
        let state = Arc::new(Mutex::new(State::new(handle, owner)));
        RUN_LOCKS.lock().push(Arc::downgrade(&state));
        Ok(Self { run_id: handle_run_id, run_dir: handle_run_dir, state })
    }

    /// Logs a dict of values, as `wandb.log` does.
    ///
    /// With `step=None` the row goes to the current step; `commit=None` means
    /// `True` without a step and `False` with one. A commit writes the row and
    /// moves to the next step; `commit=False` keeps adding to the same row. A
    /// step lower than the current one is dropped with a warning; a higher one
    /// first commits the pending row.
    #[pyo3(signature = (data, step=None, commit=None))]
    fn log(&self, py: Python<'_>, data: &Bound<'_, PyAny>, step: Option<i64>, commit: Option<bool>) -> PyResult<()> {
        let dict = data.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!("log() takes a dict of key -> value, got {}", type_name(data)))
        })?;
        let mut st = self.lock(py);
        if st.live(py)? {
            drop(st);
            Self::after_reattach(py)?;
            st = self.lock(py);
        }
        if let Some(s) = step {
            if s < st.step {
                let current = st.step;
                drop(st);
                let msg = format!(
                    "ringlog: tried to log to step {s}, which is lower than the current step {current}; \
                     steps must increase, so this data is dropped (as wandb does)"
                );
                let msg = CString::new(msg).unwrap_or_default();
                return PyErr::warn(py, &py.get_type::<PyUserWarning>(), &msg, 1);
            }
            if s > st.step {
                st.commit_row(py)?;
                st.step = s;
            }
        }
        let start = st.row.items.len();
        if let Err(e) = st.add_items(py, dict, None) {
            st.row.truncate(start);
            return Err(e);
        }
        if commit.unwrap_or(step.is_none()) {
            let r = st.commit_row(py);
            st.step += 1;
            r?;
        }
        Ok(())
    }

    /// Sets summary values (nested dicts flattened to `a/b`).
    fn _summary(&self, py: Python<'_>, data: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut items = Vec::new();
        State::flat_items(data, None, &mut items)?;
        let mut st = self.lock(py);
        if st.live(py)? {
            drop(st);
            Self::after_reattach(py)?;
            st = self.lock(py);
        }
        let refs: Vec<(&str, Value)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let need = 96 + refs.iter().map(|(k, v)| 64 + k.len() as u64 + value_bytes(v)).sum::<u64>();
        let st = &mut *st;
        write(py, &mut st.handle, &mut st.gauge, need, |h| h.summary(&refs))
    }

    /// Records config values from a JSON object (scalars typed, the rest as JSON).
    fn _config(&self, py: Python<'_>, json_object: &str) -> PyResult<()> {
        let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json_object)
            .map_err(|e| PyValueError::new_err(format!("config is not a JSON object: {e}")))?;
        let values: Vec<(String, Value)> = parsed.iter().map(|(k, v)| (k.clone(), value_conv::json_value(v))).collect();
        let refs: Vec<(&str, Value)> = values.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let mut st = self.lock(py);
        if st.live(py)? {
            drop(st);
            Self::after_reattach(py)?;
            st = self.lock(py);
        }
        let need = 96 + refs.iter().map(|(k, v)| 64 + k.len() as u64 + value_bytes(v)).sum::<u64>();
        let st = &mut *st;
        write(py, &mut st.handle, &mut st.gauge, need, |h| h.config(&refs))
    }

    /// Commits the pending row, then finishes the run (the process that
    /// started it) or detaches (any other process). Idempotent: a second call
    /// returns the first report. A handle inherited by a forked child that
    /// never logged is dropped without touching the parent's run.
    #[pyo3(signature = (exit_code=0))]
    fn finish<'py>(&self, py: Python<'py>, exit_code: i32) -> PyResult<Bound<'py, PyDict>> {
        let mut st = self.lock(py);
        if let Some(f) = &st.finished {
            return report_dict(py, f);
        }
        let forked = st.handle.as_ref().is_some_and(Handle::is_forked);
        if forked {
            if let Some(h) = st.handle.take() {
                h.forget_forked();
            }
            let f = FinishSummary { state: "detached".into(), exit_code, ..Default::default() };
            st.finished = Some(f.clone());
            return report_dict(py, &f);
        }
        let pending = st.commit_row(py);
        let Some(h) = st.handle.take() else {
            return Err(RunFinishedError::new_err("the run is finished"));
        };
        let result = py.detach(move || h.finish(exit_code));
        let f = match result {
            Ok(f) => f,
            Err(e) => {
                st.finished = Some(FinishSummary { state: "failed".into(), exit_code, ..Default::default() });
                return Err(client_error(e));
            }
        };
        st.finished = Some(f.clone());
        drop(st);
        pending?;
        report_dict(py, &f)
    }

    /// Waits (GIL released) until the service has taken everything this
    /// process logged out of its lane; `False` if `timeout` seconds passed.
    #[pyo3(signature = (timeout=10.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let mut st = self.lock(py);
        st.live(py)?;
        st.commit_row(py)?;
        let h = st.handle.as_mut().ok_or_else(|| RunFinishedError::new_err("the run is finished"))?;
        let t = Duration::from_secs_f64(timeout.max(0.0));
        py.detach(|| h.flush(t)).map_err(client_error)
    }

    /// Detaches a forked child's own lane, or forgets an inherited handle
    /// (the child's exit hook; never finishes the parent's run).
    fn _child_exit(&self, py: Python<'_>) -> PyResult<()> {
        let mut st = self.lock(py);
        if st.finished.is_some() {
            return Ok(());
        }
        match st.handle.take() {
            Some(h) if h.is_forked() => h.forget_forked(),
            Some(h) if st.reattached => {
                let _ = st.commit_row(py);
                let _ = py.detach(move || h.finish(0));
            }
            other => st.handle = other,
        }
        if st.handle.is_none() {
            st.finished = Some(FinishSummary { state: "detached".into(), ..Default::default() });
        }
        Ok(())
    }

    /// The run id.
    #[getter]
    fn id(&self) -> &str {
        &self.run_id
    }

    /// The run directory (absolute).
    #[getter]
    fn dir(&self) -> &str {
        &self.run_dir
    }

    /// The current step (where the next row goes).
    #[getter]
    fn step(&self, py: Python<'_>) -> i64 {
        self.lock(py).step
    }

    /// This process's lane (`None` once finished).
    #[getter]
    fn lane(&self, py: Python<'_>) -> Option<u16> {
        self.lock(py).handle.as_ref().map(Handle::lane)
    }

    /// Whether this process started the run (its finish ends the run).
    #[getter]
    fn is_owner(&self, py: Python<'_>) -> bool {
        let st = self.lock(py);
        st.owner && !st.handle.as_ref().is_some_and(Handle::is_forked)
    }

    /// Whether the run is finished (or detached) in this process.
    #[getter]
    fn finished(&self, py: Python<'_>) -> bool {
        self.lock(py).finished.is_some()
    }

    /// Whether this handle came from the parent across `fork()` and has not logged yet.
    #[getter]
    fn is_inherited(&self, py: Python<'_>) -> bool {
        self.lock(py).handle.as_ref().is_some_and(Handle::is_forked)
    }

    /// Whether this process attached itself after a fork (it detaches at exit).
    #[getter]
    fn is_reattached(&self, py: Python<'_>) -> bool {
        self.lock(py).reattached
    }
}
