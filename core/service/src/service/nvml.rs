//! GPU samples through NVML, loaded at run time with `dlopen`: never a build
//! dependency, and a host without NVIDIA's driver simply has no GPU metrics.
//!
//! The library is `libnvidia-ml.so.1` (the driver installs it), or the path in
//! `RINGLOG_NVML_LIB`. Only these NVML calls are used, all in NVML's C ABI since
//! its first versions: `nvmlInit_v2`, `nvmlShutdown`, `nvmlDeviceGetCount_v2`,
//! `nvmlDeviceGetHandleByIndex_v2`, `nvmlDeviceGetUtilizationRates`,
//! `nvmlDeviceGetMemoryInfo`, `nvmlDeviceGetTemperature`, `nvmlDeviceGetPowerUsage`
//! and `nvmlDeviceGetEnforcedPowerLimit`. Metric names are W&B's:
//! `gpu.{i}.gpu`, `gpu.{i}.memory` (utilisation, %), `gpu.{i}.memoryAllocated` (%),
//! `gpu.{i}.memoryAllocatedBytes`, `gpu.{i}.temp` (°C), `gpu.{i}.powerWatts` and
//! `gpu.{i}.powerPercent`.

use std::ffi::{CString, c_char, c_int, c_uint, c_ulonglong, c_void};

/// `NVML_SUCCESS`.
const SUCCESS: c_int = 0;
/// `NVML_TEMPERATURE_GPU`.
const TEMPERATURE_GPU: c_int = 0;
/// At most this many devices are sampled (a bound on a count the library reports).
const MAX_DEVICES: c_uint = 64;

/// `nvmlUtilization_t`.
#[repr(C)]
#[derive(Default)]
struct Utilization {
    gpu: c_uint,
    memory: c_uint,
}

/// `nvmlMemory_t` (version 1).
#[repr(C)]
#[derive(Default)]
struct Memory {
    total: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

type Device = *mut c_void;
type InitFn = unsafe extern "C" fn() -> c_int;
type CountFn = unsafe extern "C" fn(*mut c_uint) -> c_int;
type HandleFn = unsafe extern "C" fn(c_uint, *mut Device) -> c_int;
type UtilFn = unsafe extern "C" fn(Device, *mut Utilization) -> c_int;
type MemFn = unsafe extern "C" fn(Device, *mut Memory) -> c_int;
type TempFn = unsafe extern "C" fn(Device, c_int, *mut c_uint) -> c_int;
type PowerFn = unsafe extern "C" fn(Device, *mut c_uint) -> c_int;

/// A loaded and initialised NVML.
pub(crate) struct Nvml {
    lib: *mut c_void,
    shutdown: InitFn,
    count: CountFn,
    handle: HandleFn,
    utilization: UtilFn,
    memory: MemFn,
    temperature: TempFn,
    power: PowerFn,
    power_limit: PowerFn,
}

// SAFETY: NVML is thread-safe (its documentation says every call may be made
// from any thread); the handle is only a library handle and function pointers.
unsafe impl Send for Nvml {}

impl Nvml {
    /// Loads and initialises NVML; `Err` says why not (no driver is the usual case).
    pub(crate) fn load() -> Result<Self, String> {
        let path = std::env::var("RINGLOG_NVML_LIB").unwrap_or_else(|_| "libnvidia-ml.so.1".into());
        let c_path = CString::new(path.clone()).map_err(|_| format!("RINGLOG_NVML_LIB={path:?} holds a NUL"))?;
        // SAFETY: dlopen with a NUL-terminated path; the handle is checked.
        let lib = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if lib.is_null() {
            return Err(format!("{path}: {}", dl_error()));
        }
        let nvml = match Self::bind(lib) {
            Ok(n) => n,
            Err(e) => {
                // SAFETY: the handle came from dlopen above and nothing of it is kept.
                unsafe { libc::dlclose(lib) };
                return Err(format!("{path}: {e}"));
            }
        };
        // SAFETY: nvmlInit_v2 takes no arguments; bound from the library above.
        let init: InitFn = unsafe { std::mem::transmute(sym(lib, c"nvmlInit_v2")?) };
        // SAFETY: see above.
        match unsafe { init() } {
            SUCCESS => Ok(nvml),
            code => Err(format!("{path}: nvmlInit_v2 returned {code}")),
        }
    }

    fn bind(lib: *mut c_void) -> Result<Self, String> {
        // SAFETY: each symbol is NVML's function of that name, whose C
        // signature is the function type it is transmuted to.
        unsafe {
            Ok(Self {
                lib,
                shutdown: std::mem::transmute::<*mut c_void, InitFn>(sym(lib, c"nvmlShutdown")?),
                count: std::mem::transmute::<*mut c_void, CountFn>(sym(lib, c"nvmlDeviceGetCount_v2")?),
                handle: std::mem::transmute::<*mut c_void, HandleFn>(sym(lib, c"nvmlDeviceGetHandleByIndex_v2")?),
                utilization: std::mem::transmute::<*mut c_void, UtilFn>(sym(lib, c"nvmlDeviceGetUtilizationRates")?),
                memory: std::mem::transmute::<*mut c_void, MemFn>(sym(lib, c"nvmlDeviceGetMemoryInfo")?),
                temperature: std::mem::transmute::<*mut c_void, TempFn>(sym(lib, c"nvmlDeviceGetTemperature")?),
                power: std::mem::transmute::<*mut c_void, PowerFn>(sym(lib, c"nvmlDeviceGetPowerUsage")?),
                power_limit: std::mem::transmute::<*mut c_void, PowerFn>(sym(lib, c"nvmlDeviceGetEnforcedPowerLimit")?),
            })
        }
    }

    /// One sample of every device, as `(W&B metric name, value)`. A metric a
    /// device does not support (NVML says so per call) is left out.
    pub(crate) fn sample(&self, out: &mut Vec<(String, f64)>) {
        let mut n: c_uint = 0;
        // SAFETY: a valid out-pointer; the function is NVML's.
        if unsafe { (self.count)(&mut n) } != SUCCESS {
            return;
        }
        for i in 0..n.min(MAX_DEVICES) {
            let mut dev: Device = std::ptr::null_mut();
            // SAFETY: i < the device count; a valid out-pointer.
            if unsafe { (self.handle)(i, &mut dev) } != SUCCESS {
                continue;
            }
            let mut util = Utilization::default();
            // SAFETY: `dev` is a handle NVML gave, and the out-pointer is valid
            // for its type (the same holds for the calls below).
            if unsafe { (self.utilization)(dev, &mut util) } == SUCCESS {
                out.push((format!("gpu.{i}.gpu"), f64::from(util.gpu)));
                out.push((format!("gpu.{i}.memory"), f64::from(util.memory)));
            }
            let mut mem = Memory::default();
            // SAFETY: as above.
            if unsafe { (self.memory)(dev, &mut mem) } == SUCCESS && mem.total > 0 {
                out.push((format!("gpu.{i}.memoryAllocated"), 100.0 * mem.used as f64 / mem.total as f64));
                out.push((format!("gpu.{i}.memoryAllocatedBytes"), mem.used as f64));
            }
            let mut temp: c_uint = 0;
            // SAFETY: as above.
            if unsafe { (self.temperature)(dev, TEMPERATURE_GPU, &mut temp) } == SUCCESS {
                out.push((format!("gpu.{i}.temp"), f64::from(temp)));
            }
            let (mut mw, mut limit_mw): (c_uint, c_uint) = (0, 0);
            // SAFETY: as above.
            if unsafe { (self.power)(dev, &mut mw) } == SUCCESS {
                out.push((format!("gpu.{i}.powerWatts"), f64::from(mw) / 1000.0));
                // SAFETY: as above.
                if unsafe { (self.power_limit)(dev, &mut limit_mw) } == SUCCESS && limit_mw > 0 {
                    out.push((format!("gpu.{i}.powerPercent"), 100.0 * f64::from(mw) / f64::from(limit_mw)));
                }
            }
        }
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: NVML was initialised by `load`; the handle is dlopen's, closed once.
        unsafe {
            (self.shutdown)();
            libc::dlclose(self.lib);
        }
    }
}

fn sym(lib: *mut c_void, name: &std::ffi::CStr) -> Result<*mut c_void, String> {
    // SAFETY: a live dlopen handle and a NUL-terminated name.
    let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
    if p.is_null() { Err(format!("no symbol {}", name.to_string_lossy())) } else { Ok(p) }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message valid until the
    // next dl* call on this thread; it is copied at once.
    let e: *const c_char = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown dlopen error".into()
    } else {
        // SAFETY: non-NULL, NUL-terminated (dlerror's contract).
        unsafe { std::ffi::CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}
