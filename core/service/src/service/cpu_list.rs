//! CPU lists as Linux writes them (`0-3,8`, `cpuset.cpus`, `Cpus_allowed_list`) and as
//! `taskset -c` takes them (with strides: `0-10:2`).

use rustix::thread::CpuSet;

/// Parses a CPU list: numbers and ranges `a-b`, comma-separated, a range optionally with a
/// stride `a-b:s`. Spaces around parts are allowed.
///
/// # Errors
/// A message saying what is wrong with the list.
///
/// # Examples
/// ```
/// use ringlog_service::service::cpu_list::{format, parse};
/// assert_eq!(format(&parse("0-3,8")?), "0-3,8");
/// assert_eq!(format(&parse("0-6:2")?), "0,2,4,6");
/// assert!(parse("3-1").is_err());
/// # Ok::<(), String>(())
/// ```
pub fn parse(text: &str) -> Result<CpuSet, String> {
    let mut set = CpuSet::new();
    for part in text.split(',') {
        let part = part.trim();
        let (range, stride) = match part.split_once(':') {
            Some((range, stride)) => (range, number(stride, "stride")?),
            None => (part, 1),
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (cpu(a)?, cpu(b)?),
            None if stride != 1 => return Err(format!("`{part}`: a stride needs a range, as in `0-10:2`")),
            None => (cpu(range)?, cpu(range)?),
        };
        if first > last {
            return Err(format!("the range `{part}` runs backwards"));
        }
        if stride == 0 {
            return Err(format!("`{part}`: a stride of 0"));
        }
        (first..=last).step_by(stride).for_each(|c| set.set(c));
    }
    Ok(set)
}

/// Formats a set as a list of numbers and ranges (`0-3,8`).
///
/// # Examples
/// ```
/// let mut set = rustix::thread::CpuSet::new();
/// [0, 1, 2, 5].into_iter().for_each(|c| set.set(c));
/// assert_eq!(ringlog_service::service::cpu_list::format(&set), "0-2,5");
/// ```
pub fn format(set: &CpuSet) -> String {
    let mut parts = Vec::new();
    let mut c = 0;
    while c < CpuSet::MAX_CPU {
        if !set.is_set(c) {
            c += 1;
            continue;
        }
        let first = c;
        while c + 1 < CpuSet::MAX_CPU && set.is_set(c + 1) {
            c += 1;
        }
        parts.push(if first == c { first.to_string() } else { format!("{first}-{c}") });
        c += 1;
    }
    parts.join(",")
}

/// One CPU number, below [`CpuSet::MAX_CPU`].
fn cpu(text: &str) -> Result<usize, String> {
    let n = number(text, "CPU number")?;
    if n >= CpuSet::MAX_CPU {
        return Err(format!("CPU {n} is beyond the largest CPU number, {}", CpuSet::MAX_CPU - 1));
    }
    Ok(n)
}

/// A decimal number of digits only (no sign).
fn number(text: &str, what: &str) -> Result<usize, String> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not a {what}"));
    }
    text.parse().map_err(|_| format!("{what} `{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_format_back() {
        for text in ["0", "0-3", "0-3,8", "1,3,5-6"] {
            assert_eq!(format(&parse(text).unwrap()), text);
        }
        assert_eq!(format(&parse(" 2 , 4-5").unwrap()), "2,4-5");
        assert_eq!(format(&parse("0-9:3").unwrap()), "0,3,6,9");
        assert_eq!(format(&parse("4-4:7").unwrap()), "4");
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        for (text, says) in [
            ("", "`` is not a CPU number"),
            ("seven", "`seven` is not a CPU number"),
            ("0,,1", "`` is not a CPU number"),
            ("3-1", "runs backwards"),
            ("-1", "`` is not a CPU number"),
            ("+3", "`+3` is not a CPU number"),
            ("99999", "beyond the largest"),
            ("99999999999999999999999", "too large"),
            ("0-4:0", "a stride of 0"),
            ("3:2", "a stride needs a range"),
            ("0-4:x", "`x` is not a stride"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
