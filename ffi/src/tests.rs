//! Unit tests of the boundary that need no service: statuses, NULL and
//! UTF-8 checks, the last-error message, panics caught at the edge.

use std::ffi::{CStr, c_char};

use crate::boundary::guard;
use crate::ffi_error::{FfiError, full_message};
use crate::*;

fn last_error() -> String {
    // SAFETY: rl_last_error_message returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(rl_last_error_message()) }.to_string_lossy().into_owned()
}

fn error_string(code: i32) -> String {
    // SAFETY: rl_error_string returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(rl_error_string(code)) }.to_string_lossy().into_owned()
}

#[test]
fn statuses_are_dense_and_described() {
    for (i, s) in rl_status::ALL.iter().enumerate() {
        assert_eq!(*s as i32, i as i32, "codes are 0, 1, 2, ... in order");
        assert_ne!(error_string(i as i32), "unknown status");
    }
    assert_eq!(error_string(0), "ok");
    assert_eq!(error_string(-1), "unknown status");
    assert_eq!(error_string(rl_status::ALL.len() as i32), "unknown status");
}

#[test]
fn null_arguments_are_refused_with_their_name() {
    // SAFETY: NULL is allowed for every pointer argument below.
    unsafe {
        assert_eq!(rl_options_new(std::ptr::null_mut()), rl_status::RL_ERR_NULL_POINTER);
        assert!(last_error().contains("out_options"), "{}", last_error());
        assert_eq!(rl_init(std::ptr::null(), std::ptr::null_mut()), rl_status::RL_ERR_NULL_POINTER);
        assert_eq!(rl_log_f64(std::ptr::null_mut(), 0, 0, 1.0), rl_status::RL_ERR_NULL_POINTER);
        assert!(last_error().contains("`run`"), "{}", last_error());
        assert_eq!(rl_step_commit(std::ptr::null_mut()), rl_status::RL_ERR_NULL_POINTER);
        assert_eq!(rl_finish(std::ptr::null_mut(), 0, std::ptr::null_mut()), rl_status::RL_ERR_NULL_POINTER);
        assert!(rl_run_id(std::ptr::null()).is_null());
        rl_run_free(std::ptr::null_mut());
        rl_options_free(std::ptr::null_mut());
    }
}

#[test]
fn options_check_utf8_and_ranges() {
    let mut opts: *mut rl_options = std::ptr::null_mut();
    // SAFETY: valid out pointer; the handle is used on this thread and freed once.
    unsafe {
        assert_eq!(rl_options_new(&mut opts), rl_status::RL_OK);
        let bad = [b'a', 0xff, 0].as_ptr().cast::<c_char>();
        assert_eq!(rl_options_set_project(opts, bad), rl_status::RL_ERR_INVALID_UTF8);
        assert!(last_error().contains("project"), "{}", last_error());
        assert_eq!(rl_options_set_project(opts, c"ok".as_ptr()), rl_status::RL_OK);
        assert_eq!(rl_options_set_policy(opts, 0, 0), rl_status::RL_ERR_INVALID_ARGUMENT);
        assert_eq!(rl_options_set_policy(opts, rl_full_policy::RL_POLICY_DROP as i32, 0), rl_status::RL_OK);
        assert_eq!(rl_options_config_json(opts, c"k".as_ptr(), c"[1,".as_ptr()), rl_status::RL_ERR_INVALID_ARGUMENT);
        assert_eq!(rl_options_config_json(opts, c"k".as_ptr(), c"[1, 2]".as_ptr()), rl_status::RL_OK);
        assert_eq!(rl_options_config_f64(opts, c"nan".as_ptr(), f64::NAN), rl_status::RL_OK);
        let inner = &(*opts).inner;
        assert_eq!(inner.project, "ok");
        assert_eq!(inner.policy, ringlog_core::FullPolicy::DropNewest);
        let get = |key: &str| match &inner.config.iter().find(|(k, _)| k == key).expect("set").1 {
            ringlog_core::Value::Json(text) => serde_json::from_str::<serde_json::Value>(text).expect("json"),
            other => panic!("{other:?}"),
        };
        assert_eq!(get("k"), serde_json::json!([1, 2]));
        assert_eq!(get("nan"), serde_json::json!("NaN"));
        rl_options_free(opts);
    }
}

#[test]
fn options_clone_is_an_independent_copy() {
    let mut opts: *mut rl_options = std::ptr::null_mut();
    let mut copy: *mut rl_options = std::ptr::null_mut();
    // SAFETY: valid out pointers; both handles are used on this thread and freed once.
    unsafe {
        assert_eq!(rl_options_new(&mut opts), rl_status::RL_OK);
        assert_eq!(rl_options_set_project(opts, c"first".as_ptr()), rl_status::RL_OK);
        assert_eq!(rl_options_clone(opts, &mut copy), rl_status::RL_OK);
        assert_eq!(rl_options_set_project(opts, c"changed".as_ptr()), rl_status::RL_OK);
        assert_eq!((*copy).inner.project, "first");
        assert_eq!(rl_options_clone(std::ptr::null(), &mut copy), rl_status::RL_ERR_NULL_POINTER);
        assert_eq!(rl_options_clone(opts, std::ptr::null_mut()), rl_status::RL_ERR_NULL_POINTER);
        rl_options_free(copy);
        rl_options_free(opts);
    }
}

#[test]
fn step_buf_commit_checks_its_pointers() {
    let item = rl_metric { key: 0, reserved: 0, value: 0.0 };
    let buf = rl_step_buf { step: 0, len: 0, overflow: 0, items: [item; RL_STEP_BUF_CAPACITY] };
    // SAFETY: NULL is allowed for both pointer arguments.
    unsafe {
        assert_eq!(rl_step_buf_commit(std::ptr::null_mut(), &buf), rl_status::RL_ERR_NULL_POINTER);
        assert!(last_error().contains("`run`"), "{}", last_error());
    }
}

/// `rl_step_buf_commit` passes the caller's items to `Run::log` without a
/// copy only while `rl_metric` has the layout of `(KeyId, f64)`. If a compiler
/// changes the tuple's layout the commit still works (it copies), but this
/// fails so that someone looks.
#[test]
// A test, not a `const` assertion: a layout change must not stop the build
// (the copying path still works), only flag the lost optimization.
#[allow(clippy::assertions_on_constants)]
fn step_buf_items_are_the_clients_pairs() {
    assert!(crate::step_buf::ITEMS_ARE_PAIRS, "rl_metric no longer matches (KeyId, f64): the commit copies each value");
}

#[test]
fn panics_stop_at_the_boundary() {
    let status = guard(|| panic!("boom"));
    assert_eq!(status, rl_status::RL_ERR_PANIC);
    assert!(last_error().contains("boom"), "{}", last_error());
}

#[test]
fn last_error_is_per_thread() {
    let _ = FfiError::invalid("main thread error");
    let other = std::thread::spawn(|| {
        let before = last_error();
        let _ = FfiError::invalid("other thread error");
        (before, last_error())
    })
    .join()
    .expect("thread");
    assert_eq!(other, (String::new(), "other thread error".to_owned()));
    assert_eq!(last_error(), "main thread error");
}

#[test]
fn full_message_keeps_causes_once() {
    let io = std::io::Error::other("disk on fire");
    let e = ringlog_core::ClientError::Channel { socket: "/s".into(), source: ringlog_core::FrameIoError::Closed };
    let text = full_message(&e);
    assert_eq!(text.matches("connection closed").count(), 1, "{text}");
    assert_eq!(full_message(&io), "disk on fire");
}

#[test]
fn fork_error_names_the_c_call() {
    let e = FfiError::from(ringlog_core::ClientError::Forked);
    assert_eq!(e.status(), rl_status::RL_ERR_FORKED);
    assert!(last_error().contains("rl_attach("), "{}", last_error());
    assert!(!last_error().contains("ringlog::attach"), "{}", last_error());
    let _ = FfiError::from(ringlog_core::ProduceError::Forked);
    assert!(last_error().contains("rl_attach("), "{}", last_error());
}
