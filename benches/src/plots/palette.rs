//! One colour per transport, the same in every plot.
//!
//! Known transports have fixed colours (the Tableau 10 set, which stays
//! distinct for the common colour-vision deficiencies); ringlog gets the strong
//! blue. An unknown transport gets a colour from its name, so it too keeps its
//! colour across plots and runs.

use plotters::style::{Palette, Palette99, RGBColor};

/// The colour of `transport`'s series.
pub(crate) fn transport_color(transport: &str) -> RGBColor {
    match transport {
        "ringlog" => RGBColor(31, 119, 180),
        "ringlog-e2e" => RGBColor(148, 103, 189),
        "uds-protobuf" => RGBColor(214, 39, 40),
        "raw-spsc" => RGBColor(188, 189, 34),
        "raw-batched" => RGBColor(127, 127, 127),
        "raw-per-record" => RGBColor(140, 86, 75),
        "crossbeam" => RGBColor(44, 160, 44),
        "iceoryx2" => RGBColor(255, 127, 14),
        other => {
            // FNV-1a: a stable choice from the name alone.
            let hash =
                other.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            let (r, g, b) = Palette99::COLORS[(hash % Palette99::COLORS.len() as u64) as usize];
            RGBColor(r, g, b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_transports_keep_their_colour() {
        assert_eq!(transport_color("shm-next"), transport_color("shm-next"));
        assert_ne!(transport_color("ringlog"), transport_color("uds-protobuf"));
    }
}
