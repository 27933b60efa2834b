//! The side files a finished run leaves in `files/`: `wandb-summary.json`, `config.yaml` and
//! `wandb-metadata.json` (`output.log` is written as the run goes, by the writer).
//!
//! `wandb sync` rebuilds summary and config from the `.wandb` log; these files are for people
//! and tools that read the run directory, and follow the layouts W&B writes in online mode:
//!
//! - `wandb-summary.json`: one JSON object, key → latest value, plus `"_wandb": {"runtime": N}`.
//!   Values keep W&B's `NaN`/`Infinity` JSON extensions, as in `value_json`.
//! - `config.yaml`: `key:\n  value: <value>` per config key (YAML; NaN and infinities as
//!   `.nan`, `.inf`, `-.inf`).
//! - `wandb-metadata.json`: `host`, `startedAt` (RFC 3339, UTC) and `program`.

use crate::value::{WandbValue, write_json_string};

/// The `value_json` of a config value as W&B writes config: non-finite floats become `null`
/// (W&B's Python client sanitises config that way; history and summary keep `NaN`).
pub(crate) fn config_value_json(value: &WandbValue) -> String {
    match value {
        WandbValue::F64(v) if !v.is_finite() => "null".to_owned(),
        other => other.to_json(),
    }
}

/// `config.yaml` in W&B's layout.
pub(crate) fn config_yaml(config: &[(String, WandbValue)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in config {
        write_json_string(&mut out, key);
        out.extend_from_slice(b":\n  value: ");
        match value {
            WandbValue::F64(v) if v.is_nan() => out.extend_from_slice(b".nan"),
            WandbValue::F64(v) if v.is_infinite() => out.extend_from_slice(if *v > 0.0 { b".inf" } else { b"-.inf" }),
            // JSON scalars, strings (double-quoted, JSON escapes are YAML escapes) and flow
            // collections are YAML.
            other => other.write_json(&mut out),
        }
        out.push(b'\n');
    }
    out
}

/// `wandb-metadata.json`.
pub(crate) fn metadata_json(host: &str, started_at_rfc3339: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\n  \"host\": ");
    write_json_string(&mut out, host);
    out.extend_from_slice(b",\n  \"startedAt\": ");
    write_json_string(&mut out, started_at_rfc3339);
    out.extend_from_slice(b",\n  \"program\": \"ringlog\"\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_yaml_layout() {
        let cfg = vec![
            ("lr".to_string(), WandbValue::F64(0.1)),
            ("name".to_string(), WandbValue::Str("a\"b".into())),
            ("bad".to_string(), WandbValue::F64(f64::NEG_INFINITY)),
        ];
        let text = String::from_utf8(config_yaml(&cfg)).expect("utf8");
        assert_eq!(text, "\"lr\":\n  value: 0.1\n\"name\":\n  value: \"a\\\"b\"\n\"bad\":\n  value: -.inf\n");
        assert_eq!(config_value_json(&WandbValue::F64(f64::NAN)), "null");
    }

    #[test]
    fn metadata_is_json() {
        let v: serde_json::Value =
            serde_json::from_slice(&metadata_json("h\"ost", "2026-12-01T00:00:00.000000Z")).expect("json");
        assert_eq!(v["host"], "h\"ost");
    }
}
