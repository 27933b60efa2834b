//! Fuzz entry `wandb_writer`: the W&B writer's input.
//!
//! The keys and values a trainer logs reach `WandbWriter` unchanged (`ringlog export
//! --format wandb` and the live W&B sink). The input is decoded as a list of calls
//! (history rows, config, output lines, alerts, system stats, flushes, the finish) with
//! fuzzed keys, strings, floats, integers, float arrays and JSON text. After each flush
//! and after the finish the `.wandb` file is read back with the LevelDB-log framing the
//! crate documents (`leveldb_log.rs`: file header, 32 KiB blocks, chunk CRC-32, FULL /
//! FIRST / MIDDLE / LAST) and every record is decoded as a `wandb_internal.Record`:
//! numbers 1, 2, 3 ... with none missing, one history record per accepted row with its
//! step, every `value_json` JSON (with W&B's `NaN` / `Infinity` extensions), and an exit
//! record last after a finish. Nothing may panic.
//!
//! Shared by `fuzz/fuzz_targets/wandb_writer.rs` and the seed test
//! `core/wandb/tests/fuzz_seeds.rs` (included with `#[path]`, so it uses only
//! `ringlog-wandb`, its dependencies `prost`, `crc32fast` and `serde_json`, and std).

use std::path::{Path, PathBuf};

use prost::Message;
use ringlog_wandb::proto::{Record, RecordType};
use ringlog_wandb::{
    AlertLevel, BLOCK_SIZE, CHUNK_HEADER_LEN, ChunkType, FILE_HEADER, Outcome, RunInfo, Stream, WandbValue, WandbWriter,
};

const START_NS: u64 = 1_796_137_118_000_000_000;

/// Reads the input front to back; an exhausted input reads as zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }
    fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let got = self.bytes(8);
        b[..got.len()].copy_from_slice(got);
        u64::from_le_bytes(b)
    }
    fn text(&mut self) -> String {
        let n = usize::from(self.u8() % 24);
        String::from_utf8_lossy(self.bytes(n)).into_owned()
    }
    fn value(&mut self) -> WandbValue {
        match self.u8() % 6 {
            0 => WandbValue::F64(f64::from_bits(self.u64())),
            1 => WandbValue::I64(self.u64() as i64),
            2 => WandbValue::Bool(self.u8() & 1 == 1),
            3 => WandbValue::Str(self.text()),
            4 => {
                let n = usize::from(self.u8() % 12);
                WandbValue::F32Array((0..n).map(|_| f32::from_bits(self.u64() as u32)).collect())
            }
            _ => WandbValue::Json(self.text()),
        }
    }
    fn items(&mut self) -> Vec<(String, WandbValue)> {
        let n = usize::from(self.u8() % 5);
        (0..n).map(|_| (self.text(), self.value())).collect()
    }
}

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("ringlog-fuzz-wandb-{}", std::process::id()))
}

/// `value_json` is JSON, W&B's unquoted `NaN`, `Infinity` and `-Infinity` allowed.
fn assert_json(what: &str, text: &str) {
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return;
    }
    // Replacing the extensions (also inside strings, where the result stays a string)
    // must make it JSON.
    let plain = text.replace("-Infinity", "0").replace("Infinity", "0").replace("NaN", "0");
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&plain) {
        panic!("{what}: value_json {text:?} is not JSON: {e}");
    }
}

/// Reads `path` with the crate's framing and returns its records.
fn read_records(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).expect("read the .wandb file");
    assert!(bytes.len() >= FILE_HEADER.len() && bytes[..FILE_HEADER.len()] == FILE_HEADER, "bad file header");
    let mut records = Vec::new();
    let mut partial: Option<Vec<u8>> = None;
    let mut at = FILE_HEADER.len();
    while at < bytes.len() {
        let block_left = BLOCK_SIZE - at % BLOCK_SIZE;
        if block_left < CHUNK_HEADER_LEN {
            assert!(bytes[at..(at + block_left).min(bytes.len())].iter().all(|&b| b == 0), "block tail not zero");
            at += block_left;
            continue;
        }
        assert!(at + CHUNK_HEADER_LEN <= bytes.len(), "chunk header cut at {at}");
        let crc = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let len = usize::from(u16::from_le_bytes([bytes[at + 4], bytes[at + 5]]));
        let kind = bytes[at + 6];
        let body = at + CHUNK_HEADER_LEN;
        assert!(body + len <= bytes.len(), "chunk at {at} runs past the end of the file");
        assert!(CHUNK_HEADER_LEN + len <= block_left, "chunk at {at} crosses a block boundary");
        let payload = &bytes[body..body + len];
        let mut h = crc32fast::Hasher::new();
        h.update(&[kind]);
        h.update(payload);
        assert_eq!(h.finalize(), crc, "chunk CRC at {at}");
        let whole = match (ChunkType::from_byte(kind), partial.take()) {
            (Some(ChunkType::Full), None) => Some(payload.to_vec()),
            (Some(ChunkType::First), None) => {
                partial = Some(payload.to_vec());
                None
            }
            (Some(ChunkType::Middle), Some(mut p)) => {
                p.extend_from_slice(payload);
                partial = Some(p);
                None
            }
            (Some(ChunkType::Last), Some(mut p)) => {
                p.extend_from_slice(payload);
                Some(p)
            }
            (t, p) => panic!("chunk type {kind} ({t:?}) at {at} with a record open: {}", p.is_some()),
        };
        if let Some(r) = whole {
            records.push(Record::decode(r.as_slice()).unwrap_or_else(|e| panic!("record at {at}: {e}")));
        }
        at = body + len;
    }
    assert!(partial.is_none(), "the file ends inside a record");
    records
}

/// Checks the file against what the writer accepted.
fn check_file(path: &Path, records_written: u64, steps: &[i64], finished: bool) -> usize {
    let records = read_records(path);
    assert_eq!(records.len() as u64, records_written, "records in the file vs the writer's count");
    let mut file_steps = Vec::new();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.num, i as i64 + 1, "record numbers");
        match &r.record_type {
            Some(RecordType::History(h)) => {
                file_steps.push(h.step.as_ref().map_or(-1, |s| s.num));
                for item in &h.item {
                    assert_json("history", &item.value_json);
                }
            }
            Some(RecordType::Summary(s)) => s.update.iter().for_each(|i| assert_json("summary", &i.value_json)),
            Some(RecordType::Config(c)) => c.update.iter().for_each(|i| assert_json("config", &i.value_json)),
            Some(RecordType::Stats(s)) => s.item.iter().for_each(|i| assert_json("stats", &i.value_json)),
            Some(_) => {}
            None => panic!("record {} has no type", r.num),
        }
    }
    assert_eq!(file_steps, steps, "history steps in the file vs the rows the writer accepted");
    if finished {
        assert!(matches!(records.last().and_then(|r| r.record_type.as_ref()), Some(RecordType::Exit(_))));
    }
    steps.len()
}

/// Runs one input (see the module docs); returns how many history rows the file holds.
pub fn run(data: &[u8]) -> usize {
    let dir = scratch_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let mut input = Input(data);
    let info = RunInfo {
        run_id: "fuzz1".into(),
        project: input.text(),
        name: input.text(),
        start_time_unix_ns: START_NS,
        config: input.items(),
        ..Default::default()
    };
    let mut w = match WandbWriter::create(&dir, &info) {
        Ok(w) => w,
        Err(e) => {
            let _ = e.to_string();
            let _ = std::fs::remove_dir_all(&dir);
            return 0;
        }
    };
    let path = w.paths().wandb_file.clone();
    let mut steps = Vec::new();
    while !input.is_empty() {
        let ts = START_NS.wrapping_add(input.u64() >> 20);
        let result = match input.u8() % 8 {
            0 | 1 => {
                let step = (input.u64() as i64) >> (input.u8() % 64);
                let items = input.items();
                let refs: Vec<(&str, WandbValue)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                let r = w.history(step, ts, &refs);
                if r.is_ok() {
                    steps.push(step);
                }
                r
            }
            2 => {
                let items = input.items();
                let refs: Vec<(&str, WandbValue)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                w.config(&refs)
            }
            3 => {
                let stream = if input.u8() & 1 == 0 { Stream::Stdout } else { Stream::Stderr };
                let line = input.text();
                w.output_line(stream, ts, &line)
            }
            4 => {
                let level = [AlertLevel::Info, AlertLevel::Warn, AlertLevel::Error][usize::from(input.u8() % 3)];
                let (title, text) = (input.text(), input.text());
                w.alert(&title, &text, level)
            }
            5 => {
                let n = usize::from(input.u8() % 4);
                let items: Vec<(String, f64)> = (0..n).map(|_| (input.text(), f64::from_bits(input.u64()))).collect();
                let refs: Vec<(&str, f64)> = items.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                w.stats(ts, &refs)
            }
            6 => {
                let r = w.flush();
                if r.is_ok() {
                    check_file(&path, w.records(), &steps, false);
                }
                r
            }
            _ => {
                let code = i32::from(input.u8() as i8);
                let runtime_s = f64::from_bits(input.u64());
                let records_before = w.records();
                let outcome = if code == -1 {
                    Outcome::Crashed { runtime_s }
                } else {
                    Outcome::Exited { exit_code: code, runtime_s }
                };
                match w.finish(outcome) {
                    Ok(_) => {
                        // The finish adds a runtime summary update and the exit record.
                        let rows = check_file(&path, records_before + 2, &steps, true);
                        let _ = std::fs::remove_dir_all(&dir);
                        return rows;
                    }
                    Err(e) => panic!("finish failed on a healthy disk: {e}"),
                }
            }
        };
        if let Err(e) = result {
            let _ = e.to_string();
        }
    }
    let mut rows = 0;
    if w.flush().is_ok() {
        rows = check_file(&path, w.records(), &steps, false);
    }
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
    rows
}
