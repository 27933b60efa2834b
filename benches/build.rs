//! Compiles the C ring of the `raw-batched` transport (`csrc/raw_batched.c`).
//!
//! `-O2` in every profile, so the reference is as fast in the debug-built smoke
//! tests as in release runs.

fn main() {
    println!("cargo:rerun-if-changed=csrc/raw_batched.c");
    cc::Build::new().file("csrc/raw_batched.c").opt_level(2).std("gnu11").warnings(true).compile("raw_batched");
}
