//! Fuzz entry `control_message`: the control channel's decoder.
//!
//! A control connection carries length-prefixed JSON frames (`read_frame`), and the
//! service reads them from any process of the user that can reach the socket. The input
//! is a byte stream: frames are decoded from it, as `Request`s and, separately, as
//! `Response`s (what a client reads), until the decoder says the stream is closed or
//! malformed. Nothing may panic; a decoded message must encode again and that encoding
//! must decode.
//!
//! Shared by `fuzz/fuzz_targets/control_message.rs` and the seed test
//! `core/ring/tests/fuzz_seeds.rs` (included with `#[path]`, so it uses only
//! `ringlog-ring` and std).

use ringlog_ring::protocol::control_message::{Request, Response, read_frame, write_frame};

fn decode_all<T>(data: &[u8]) -> usize
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de> + std::fmt::Debug,
{
    let mut stream = data;
    let mut decoded = 0;
    // Each frame consumes at least its 4-byte length, so this ends.
    while let Ok(msg) = read_frame::<T>(&mut stream) {
        let mut again = Vec::new();
        write_frame(&mut again, &msg).unwrap_or_else(|e| panic!("decoded {msg:?} but cannot encode it: {e}"));
        if let Err(e) = read_frame::<T>(&mut again.as_slice()) {
            panic!("{msg:?} encodes to a frame that does not decode: {e}");
        }
        decoded += 1;
    }
    decoded
}

/// Runs one input (see the module docs); returns how many messages decoded.
pub fn run(data: &[u8]) -> usize {
    decode_all::<Request>(data) + decode_all::<Response>(data)
}
