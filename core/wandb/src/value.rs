//! The values a W&B run logs, and their exact `value_json` text.
//!
//! W&B stores every logged value as JSON text in `value_json`. Its writer (the Go `wandb-core`
//! service in `wandb==0.31.0`) formats them like this, verified byte for byte against files
//! `wandb.init(mode="offline")` wrote:
//!
//! | value                     | `value_json`                                   |
//! |---------------------------|------------------------------------------------|
//! | `1.0`, `100.0`, `-0.0`    | `1`, `100`, `-0`                               |
//! | `123456.0`, `1234567.0`   | `123456`, `1.234567e+06`                       |
//! | `0.0001`, `1e-5`          | `0.0001`, `1e-05`                              |
//! | `1e21`, `5e-324`          | `1e+21`, `5e-324`                              |
//! | NaN, +inf, -inf           | `NaN`, `Infinity`, `-Infinity` (JSON extensions, unquoted) |
//! | `2**60` (an int)          | `1152921504606846976` (exact integer text)     |
//! | `True`                    | `true`                                         |
//! | `"héllo ☃"`               | `"héllo ☃"` (UTF-8, not `\u` escaped)          |
//!
//! Floats use Go's `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest digits that read back
//! to the same `f64`, in exponent form when the decimal exponent is below -4 or at least 6.
//! This module reproduces that with `zmij`'s shortest digits (the same digits as `ryu`'s, and
//! what `serde_json` uses; about twice as fast as `ryu` here), so the hot path never goes
//! through `serde_json`.

use crate::downsample::Numeric;
use crate::histogram::Histogram;

/// One logged value.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::WandbValue;
/// assert_eq!(WandbValue::F64(f64::NAN).to_json(), "NaN");
/// assert_eq!(WandbValue::I64(1 << 60).to_json(), "1152921504606846976");
/// assert_eq!(WandbValue::Str("日本".into()).to_json(), "\"日本\"");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum WandbValue {
    /// A float; NaN and ±infinity are written as W&B's `NaN`/`Infinity`/`-Infinity`.
    F64(f64),
    /// An integer, written as exact decimal text (no rounding through `f64`).
    I64(i64),
    /// A boolean.
    Bool(bool),
    /// A string of any Unicode text.
    Str(String),
    /// A sample of floats, logged as a W&B histogram exactly as
    /// `wandb.Histogram(np.array(values, dtype=np.float32))` makes it: 64 equal-width bins
    /// between the finite minimum and maximum, written as the three items `<key>._type`
    /// (`"histogram"`), `<key>.values` (64 counts) and `<key>.bins` (65 edges). Non-finite
    /// values are left out of the counts (numpy would refuse the whole sample).
    F32Array(Vec<f32>),
    /// Raw JSON text, written as given after a check that it parses as JSON.
    Json(String),
}

impl WandbValue {
    /// The value's `value_json` text (for a histogram, the JSON object W&B's summary shows).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::WandbValue;
    /// assert_eq!(WandbValue::F64(1234567.0).to_json(), "1.234567e+06");
    /// assert_eq!(WandbValue::Bool(true).to_json(), "true");
    /// assert!(WandbValue::F32Array(vec![1.0, 2.0]).to_json().starts_with("{\"_type\":\"histogram\""));
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        // Every writer below emits UTF-8 (ASCII, or the caller's valid `str` contents).
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the value's `value_json` text to `out` (a histogram as one JSON object).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::WandbValue;
    /// let mut out = Vec::new();
    /// WandbValue::F64(f64::NEG_INFINITY).write_json(&mut out);
    /// assert_eq!(out, b"-Infinity");
    /// ```
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Self::F64(v) => write_f64(out, *v),
            Self::I64(v) => write_i64(out, *v),
            Self::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
            Self::Str(s) => write_json_string(out, s),
            Self::F32Array(values) => {
                let h = Histogram::from_f32(values);
                out.extend_from_slice(b"{\"_type\":\"histogram\",\"values\":");
                h.write_values(out);
                out.extend_from_slice(b",\"bins\":");
                h.write_bins(out);
                out.push(b'}');
            }
            Self::Json(s) => out.extend_from_slice(s.as_bytes()),
        }
    }
}

impl From<f64> for WandbValue {
    fn from(v: f64) -> Self {
        Self::F64(v)
    }
}

impl From<f32> for WandbValue {
    fn from(v: f32) -> Self {
        Self::F64(f64::from(v))
    }
}

impl From<i64> for WandbValue {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}

impl From<bool> for WandbValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<&str> for WandbValue {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}

impl From<String> for WandbValue {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}

impl Numeric for WandbValue {
    fn as_f64(&self) -> Option<f64> {
        match self {
            Self::F64(v) => Some(*v),
            // Aggregates are floats; integers beyond 2^53 round here (the last value keeps them exact).
            Self::I64(v) => Some(*v as f64),
            _ => None,
        }
    }

    fn from_f64(v: f64) -> Self {
        Self::F64(v)
    }
}

/// Appends `v` as W&B writes a float: Go's `FormatFloat(v, 'g', -1, 64)`, with `NaN`,
/// `Infinity` and `-Infinity` for the non-finite values.
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// ringlog_wandb::write_f64(&mut out, 1e-5);
/// assert_eq!(out, b"1e-05");
/// ```
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(v).as_bytes();
    if (1e-4..1e6).contains(&v.abs()) {
        // Everyday magnitudes: Go's %f and zmij's fixed notation are the same digits (the
        // shortest digits read back to `v`, so they never reach the next power of ten),
        // except that zmij ends a whole number with ".0".
        out.extend_from_slice(text.strip_suffix(b".0").unwrap_or(text));
        return;
    }
    if write_from_fixed_notation(out, text) {
        return;
    }
    write_from_exponent_notation(out, text);
}

/// zmij's exponent form (`1e+20`, `-1.5e-7`, used below 1e-5 and from 1e16) is also Go's,
/// except that Go writes at least two digits of the exponent.
fn write_from_exponent_notation(out: &mut Vec<u8>, text: &[u8]) {
    let Some(e) = text.iter().position(|&b| b == b'e') else {
        // Not reached: zmij writes either fixed or exponent notation.
        write_finite_general(out, text);
        return;
    };
    out.extend_from_slice(&text[..=e]);
    let exponent = &text[e + 1..];
    let (sign, digits) = match exponent.split_first() {
        Some((b'-', digits)) => (b'-', digits),
        Some((b'+', digits)) => (b'+', digits),
        _ => (b'+', exponent),
    };
    out.push(sign);
    if digits.len() < 2 {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

/// The general path of [`write_f64`] for a non-zero finite value, from zmij's text of it.
fn write_finite_general(out: &mut Vec<u8>, text: &[u8]) {
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // Split zmij's text ("123.45", "1e-7", "1.5e+20") into its shortest digits and the position
    // of the decimal point relative to them: value = 0.DIGITS * 10^point.
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e') {
        Some(e) => (&text[..e], parse_exponent(&text[e + 1..])),
        None => (text, 0),
    };
    let mut digits = [0u8; 32];
    let mut n = 0usize;
    let mut int_len = 0i32;
    let mut seen_point = false;
    for &b in mantissa {
        if b == b'.' {
            seen_point = true;
            continue;
        }
        if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
        if !seen_point {
            int_len += 1;
        }
    }
    let mut point = int_len + exponent;
    let mut start = 0usize;
    while start < n && digits[start] == b'0' {
        start += 1;
        point -= 1;
    }
    while n > start && digits[n - 1] == b'0' {
        n -= 1;
    }
    let digits = &digits[start..n];
    if negative {
        out.push(b'-');
    }
    let exp10 = point - 1;
    if !(-4..6).contains(&exp10) {
        // %e: d[.ddd]e±XX with at least two exponent digits.
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp10 < 0 { b'-' } else { b'+' });
        let abs = exp10.unsigned_abs();
        if abs < 10 {
            out.push(b'0');
        }
        let mut ibuf = itoa::Buffer::new();
        out.extend_from_slice(ibuf.format(abs).as_bytes());
    } else if point <= 0 {
        // %f below 1: 0.000ddd
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-point) as usize, b'0');
        out.extend_from_slice(digits);
    } else {
        let point = point as usize;
        if digits.len() <= point {
            out.extend_from_slice(digits);
            out.resize(out.len() + (point - digits.len()), b'0');
        } else {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        }
    }
}

/// [`write_f64`]'s conversion of zmij's fixed notation outside the everyday magnitudes that
/// `write_f64` writes directly: `0.0000ddd` (decimal exponent -5) and `ddd.ddd` from 1e6 to
/// 1e16, both exponent form in Go. Returns `false`, writing nothing, for zmij's exponent
/// form, which takes the general path.
fn write_from_fixed_notation(out: &mut Vec<u8>, text: &[u8]) -> bool {
    let (sign, unsigned) = match text.strip_prefix(b"-") {
        Some(rest) => (&b"-"[..], rest),
        None => (&b""[..], text),
    };
    let Some(point) = unsigned.iter().position(|&b| b == b'.') else { return false };
    if unsigned[point + 1..].contains(&b'e') {
        return false;
    }
    let (int, frac) = (&unsigned[..point], &unsigned[point + 1..]);
    if int == b"0" {
        // Below 1e-4 (zmij goes to 1e-5 in fixed notation): Go's d.ddde-05.
        let zeros = frac.iter().take_while(|&&b| b == b'0').count();
        let digits = &frac[zeros..];
        out.extend_from_slice(sign);
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.extend_from_slice(b"e-");
        push_two_digit_exponent(out, zeros + 1);
        return true;
    }
    // 1e6 and up: Go's d.ddde+XX. The digits are int then frac, without trailing zeros.
    let frac = if frac == b"0" { &b""[..] } else { frac };
    out.extend_from_slice(sign);
    out.push(int[0]);
    let mut rest_int = &int[1..];
    if frac.is_empty() {
        while let Some(stripped) = rest_int.strip_suffix(b"0") {
            rest_int = stripped;
        }
    }
    if !rest_int.is_empty() || !frac.is_empty() {
        out.push(b'.');
        out.extend_from_slice(rest_int);
        out.extend_from_slice(frac);
    }
    out.extend_from_slice(b"e+");
    push_two_digit_exponent(out, int.len() - 1);
    true
}

/// Appends a decimal exponent with at least two digits, as Go writes them.
fn push_two_digit_exponent(out: &mut Vec<u8>, exp: usize) {
    if exp < 10 {
        out.push(b'0');
    }
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(exp).as_bytes());
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let magnitude = digits.iter().fold(0i32, |acc, &d| acc * 10 + i32::from(d - b'0'));
    if negative { -magnitude } else { magnitude }
}

/// Appends `v` as exact decimal integer text.
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

/// Appends `s` as a JSON string: UTF-8 kept as is; `"`, `\` and control characters escaped.
pub(crate) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        plain_from = i + 1;
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn floats_match_what_wandb_core_wrote() {
        // Each pair was read from a run-*.wandb file that wandb 0.31.0 wrote in offline mode.
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (2.0, "2"),
            (1234567.0, "1.234567e+06"),
            (123456.0, "123456"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e21, "1e+21"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (-0.0, "-0"),
            (100.0, "100"),
            (1e20, "1e+20"),
            (0.1, "0.1"),
            (1152921504606846976.0, "1.152921504606847e+18"),
            (0.388096742, "0.388096742"),
            (1796137118.8108013, "1.7961371188108013e+09"),
            (1796137118.8135145, "1.7961371188135145e+09"),
            (1796137145.75142, "1.79613714575142e+09"),
            (3.5, "3.5"),
            (4.202566369616341, "4.202566369616341"),
            (23092.03125, "23092.03125"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for &(v, want) in cases {
            assert_eq!(f(v), want, "{v:e}");
        }
    }

    #[test]
    fn go_format_edge_cases() {
        assert_eq!(f(-1.5), "-1.5");
        assert_eq!(f(999999.0), "999999");
        assert_eq!(f(1000000.0), "1e+06");
        assert_eq!(f(0.00012), "0.00012");
        assert_eq!(f(0.000012), "1.2e-05");
        assert_eq!(f(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(f(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        assert_eq!(f(-123.456), "-123.456");
        assert_eq!(f(12.0), "12");
    }

    #[test]
    fn shortcut_agrees_with_the_general_path() {
        let mut x = 0x0bad_cafe_dead_beefu64;
        let check = |v: f64| {
            if !v.is_finite() || v == 0.0 {
                return;
            }
            let mut general = Vec::new();
            write_finite_general(&mut general, zmij::Buffer::new().format_finite(v).as_bytes());
            assert_eq!(f(v), String::from_utf8(general).expect("utf8"), "{v:e}");
        };
        for e in -330..=310 {
            for m in [1.0, 1.5, 9.999_999, 1.234_567_89, 5.0] {
                check(m * 10f64.powi(e));
                check(-m * 10f64.powi(e));
            }
        }
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(f64::from_bits(x));
            // Values of everyday magnitudes, where the shortcut applies.
            check((x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 14) as i32 - 6));
        }
    }

    #[test]
    fn finite_floats_round_trip() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            let text = f(v);
            let back: f64 = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back.to_bits(), v.to_bits(), "{text}");
        }
    }

    #[test]
    fn ints_are_exact() {
        assert_eq!(WandbValue::I64(i64::MIN).to_json(), "-9223372036854775808");
        assert_eq!(WandbValue::I64((1 << 53) + 1).to_json(), "9007199254740993");
    }

    #[test]
    fn strings_escape_only_what_json_needs() {
        let s = "<a&b>\n\t\"\\ \u{1} \u{2028} 😀";
        let json = WandbValue::Str(s.into()).to_json();
        assert_eq!(json, "\"<a&b>\\n\\t\\\"\\\\ \\u0001 \u{2028} 😀\"");
        let back: String = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(back, s);
    }
}
