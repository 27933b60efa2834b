//! LevelDB-log framing, as W&B's `.wandb` files use it.
//!
//! A `.wandb` file starts with a 7-byte file header ([`FILE_HEADER`]: `:W&B`, the u16 LE magic
//! `0xBEE1`, the version byte `0`). Records follow in LevelDB's log format: the file is cut into
//! [`BLOCK_SIZE`]-byte blocks counted from file offset 0 (so the first block holds the file
//! header and `BLOCK_SIZE - 7` bytes of chunks). Each record is written as one or more chunks:
//!
//! ```text
//! u32 LE  CRC-32 (IEEE, zlib's; not masked, not CRC-32C) over the type byte, then the payload
//! u16 LE  payload length
//! u8      chunk type: FULL=1, FIRST=2, MIDDLE=3, LAST=4
//! ...     payload
//! ```
//!
//! A chunk never crosses a block boundary. When fewer than [`CHUNK_HEADER_LEN`] bytes are left in
//! a block, they are zero-filled and the next chunk starts at the next block. A record that does
//! not fit in what is left of a block starts with a FIRST chunk (which may carry zero payload
//! bytes when exactly 7 bytes are left), continues with MIDDLE chunks and ends with a LAST chunk.
//! The file has no end padding.

/// Size of one LevelDB-log block: chunks never cross a multiple of this file offset.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Length of a chunk header: CRC (4), length (2), type (1).
pub const CHUNK_HEADER_LEN: usize = 7;

/// The 7-byte header at the start of every `.wandb` file: `:W&B`, `0xBEE1` (u16 LE), version 0.
pub const FILE_HEADER: [u8; 7] = [b':', b'W', b'&', b'B', 0xE1, 0xBE, 0];

/// The type byte of a chunk: where the chunk sits in its record.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::ChunkType;
/// assert_eq!(ChunkType::Full as u8, 1);
/// assert_eq!(ChunkType::from_byte(4), Some(ChunkType::Last));
/// assert_eq!(ChunkType::from_byte(0), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChunkType {
    /// The whole record is in this chunk.
    Full = 1,
    /// The first chunk of a record that continues in the next block.
    First = 2,
    /// A middle chunk of a record that spans more than two blocks.
    Middle = 3,
    /// The last chunk of a record.
    Last = 4,
}

impl ChunkType {
    /// The chunk type for a type byte, or `None` for a byte that is not a chunk type (0 is the
    /// zero-filled block tail).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::ChunkType;
    /// assert_eq!(ChunkType::from_byte(2), Some(ChunkType::First));
    /// ```
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Full),
            2 => Some(Self::First),
            3 => Some(Self::Middle),
            4 => Some(Self::Last),
            _ => None,
        }
    }
}

/// Frames record payloads into LevelDB-log chunks, appending the bytes to a caller's buffer.
///
/// The framer only tracks the file offset the next byte lands at (which decides where blocks
/// end); the caller owns the buffer and writes it to the file. Bytes appended by one call are
/// always whole records, so writing the buffer after any call leaves a file whose every record
/// is complete.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::{RecordFramer, FILE_HEADER};
/// let mut out = Vec::new();
/// let mut framer = RecordFramer::start_file(&mut out);
/// framer.append(b"hello", &mut out);
/// assert_eq!(&out[..7], &FILE_HEADER);
/// assert_eq!(out.len(), 7 + 7 + 5);
/// assert_eq!(framer.file_offset(), out.len() as u64);
/// ```
#[derive(Debug, Clone)]
pub struct RecordFramer {
    /// File offset the next appended byte will land at. Block boundaries are multiples of
    /// [`BLOCK_SIZE`] of this offset.
    file_offset: u64,
}

impl RecordFramer {
    /// Appends the 7-byte file header to `out` and returns a framer positioned after it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::RecordFramer;
    /// let mut out = Vec::new();
    /// let framer = RecordFramer::start_file(&mut out);
    /// assert_eq!(framer.file_offset(), 7);
    /// ```
    pub fn start_file(out: &mut Vec<u8>) -> Self {
        out.extend_from_slice(&FILE_HEADER);
        Self { file_offset: FILE_HEADER.len() as u64 }
    }

    /// A framer for a file whose next byte lands at `file_offset` (for appending to a file
    /// whose length is known).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::RecordFramer;
    /// let framer = RecordFramer::at_offset(32_768);
    /// assert_eq!(framer.file_offset(), 32_768);
    /// ```
    pub fn at_offset(file_offset: u64) -> Self {
        Self { file_offset }
    }

    /// The file offset the next appended byte will land at.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::RecordFramer;
    /// let mut out = Vec::new();
    /// let mut framer = RecordFramer::start_file(&mut out);
    /// framer.append(&[], &mut out);
    /// assert_eq!(framer.file_offset(), 14);
    /// ```
    pub fn file_offset(&self) -> u64 {
        self.file_offset
    }

    /// Appends one record whose payload is `parts` joined, without joining them first when
    /// the record fits in what is left of the current block (the common case: a history row
    /// is a few hundred bytes); otherwise as [`append`](Self::append) of the joined bytes.
    /// The bytes written are the same as `append`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::RecordFramer;
    /// let (mut a, mut b) = (Vec::new(), Vec::new());
    /// RecordFramer::start_file(&mut a).append(b"hello world", &mut a);
    /// RecordFramer::start_file(&mut b).append_parts(&[b"hello", b" ", b"world"], &mut b);
    /// assert_eq!(a, b);
    /// ```
    pub fn append_parts(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let left_in_block = BLOCK_SIZE - (self.file_offset % BLOCK_SIZE as u64) as usize;
        if left_in_block < CHUNK_HEADER_LEN + len {
            // Zero-filled tail or several chunks: the general path.
            self.append(&parts.concat(), out);
            return;
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[ChunkType::Full as u8]);
        for part in parts {
            crc.update(part);
        }
        out.reserve(CHUNK_HEADER_LEN + len);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        // `len <= BLOCK_SIZE - 7`, which fits in u16.
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.push(ChunkType::Full as u8);
        for part in parts {
            out.extend_from_slice(part);
        }
        self.file_offset += (CHUNK_HEADER_LEN + len) as u64;
    }

    /// Appends one record `payload` to `out` as one or more chunks.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::{RecordFramer, BLOCK_SIZE};
    /// let mut out = Vec::new();
    /// let mut framer = RecordFramer::start_file(&mut out);
    /// framer.append(&vec![7u8; 3 * BLOCK_SIZE], &mut out); // FIRST, MIDDLE, MIDDLE, LAST
    /// assert_eq!(out.len() as u64, framer.file_offset());
    /// ```
    pub fn append(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let mut rest = payload;
        let mut first = true;
        loop {
            let left_in_block = BLOCK_SIZE - (self.file_offset % BLOCK_SIZE as u64) as usize;
            if left_in_block < CHUNK_HEADER_LEN {
                out.resize(out.len() + left_in_block, 0);
                self.file_offset += left_in_block as u64;
                continue;
            }
            let room = left_in_block - CHUNK_HEADER_LEN;
            let take = rest.len().min(room);
            let last = take == rest.len();
            let chunk_type = match (first, last) {
                (true, true) => ChunkType::Full,
                (true, false) => ChunkType::First,
                (false, false) => ChunkType::Middle,
                (false, true) => ChunkType::Last,
            };
            let (chunk, after) = rest.split_at(take);
            let mut crc = crc32fast::Hasher::new();
            crc.update(&[chunk_type as u8]);
            crc.update(chunk);
            out.extend_from_slice(&crc.finalize().to_le_bytes());
            // `take <= BLOCK_SIZE - 7`, which fits in u16.
            out.extend_from_slice(&(take as u16).to_le_bytes());
            out.push(chunk_type as u8);
            out.extend_from_slice(chunk);
            self.file_offset += (CHUNK_HEADER_LEN + take) as u64;
            rest = after;
            first = false;
            if last {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small independent reader: returns the payloads and the chunk types seen, and fails on
    /// any CRC, type or sequence error.
    fn decode(file: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<ChunkType>), String> {
        if file.len() < 7 || file[..7] != FILE_HEADER {
            return Err("bad file header".into());
        }
        let mut pos = 7usize;
        let mut records = Vec::new();
        let mut types = Vec::new();
        let mut pending: Option<Vec<u8>> = None;
        while pos < file.len() {
            let left = BLOCK_SIZE - pos % BLOCK_SIZE;
            if left < 7 {
                if file[pos..pos + left.min(file.len() - pos)].iter().any(|&b| b != 0) {
                    return Err(format!("non-zero block trailer at {pos}"));
                }
                pos += left;
                continue;
            }
            let h = file.get(pos..pos + 7).ok_or("truncated chunk header")?;
            let crc = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let len = u16::from_le_bytes([h[4], h[5]]) as usize;
            let ty = ChunkType::from_byte(h[6]).ok_or(format!("bad type {} at {pos}", h[6]))?;
            if len > left - 7 {
                return Err(format!("chunk crosses block at {pos}"));
            }
            let data = file.get(pos + 7..pos + 7 + len).ok_or("truncated chunk")?;
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&[h[6]]);
            hasher.update(data);
            if hasher.finalize() != crc {
                return Err(format!("crc mismatch at {pos}"));
            }
            types.push(ty);
            match (ty, pending.as_mut()) {
                (ChunkType::Full, None) => records.push(data.to_vec()),
                (ChunkType::First, None) => pending = Some(data.to_vec()),
                (ChunkType::Middle, Some(p)) => p.extend_from_slice(data),
                (ChunkType::Last, Some(p)) => {
                    p.extend_from_slice(data);
                    records.push(pending.take().unwrap_or_default());
                }
                _ => return Err(format!("chunk {ty:?} out of sequence at {pos}")),
            }
            pos += 7 + len;
        }
        if pending.is_some() {
            return Err("file ends inside a record".into());
        }
        Ok((records, types))
    }

    fn frame(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut framer = RecordFramer::start_file(&mut out);
        for p in payloads {
            framer.append(p, &mut out);
            assert_eq!(framer.file_offset(), out.len() as u64);
        }
        out
    }

    /// Records of every size near a block's end (the FULL fast path, the zero-filled tail,
    /// FIRST/LAST), framed from parts: the same bytes as from the joined payload.
    #[test]
    fn parts_frame_as_the_joined_payload() {
        let mut whole = Vec::new();
        let mut joined = RecordFramer::start_file(&mut whole);
        let mut split = Vec::new();
        let mut parted = RecordFramer::start_file(&mut split);
        let mut seed = 0u8;
        while joined.file_offset() < 3 * BLOCK_SIZE as u64 {
            let left = BLOCK_SIZE - (joined.file_offset() % BLOCK_SIZE as u64) as usize;
            // Sizes around what is left of the block, and ordinary ones.
            let len = match seed % 4 {
                0 => left.saturating_sub(CHUNK_HEADER_LEN),
                1 => left.saturating_sub(CHUNK_HEADER_LEN - 1),
                2 => left.saturating_sub(CHUNK_HEADER_LEN + 1),
                _ => 300 + usize::from(seed),
            };
            let p = payload(len, seed);
            joined.append(&p, &mut whole);
            let (a, rest) = p.split_at(len / 3);
            let (b, c) = rest.split_at(rest.len() / 2);
            parted.append_parts(&[a, b, c], &mut split);
            assert_eq!(whole, split, "record {seed} of {len} bytes");
            seed = seed.wrapping_add(1);
        }
        assert!(decode(&split).is_ok());
    }

    fn payload(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn small_records_round_trip() {
        let payloads = vec![payload(0, 1), payload(1, 2), payload(100, 3)];
        let file = frame(&payloads);
        let (got, types) = decode(&file).expect("decodes");
        assert_eq!(got, payloads);
        assert_eq!(types, vec![ChunkType::Full; 3]);
        assert_eq!(&file[..7], b":W&B\xe1\xbe\x00");
    }

    #[test]
    fn record_spanning_several_blocks_uses_first_middle_last() {
        let payloads = vec![payload(3 * BLOCK_SIZE + 123, 9), payload(10, 1)];
        let file = frame(&payloads);
        let (got, types) = decode(&file).expect("decodes");
        assert_eq!(got, payloads);
        assert_eq!(
            types,
            vec![ChunkType::First, ChunkType::Middle, ChunkType::Middle, ChunkType::Last, ChunkType::Full]
        );
    }

    #[test]
    fn exactly_seven_bytes_left_gives_an_empty_first_chunk() {
        // The first record ends 7 bytes before the block end.
        let first_len = BLOCK_SIZE - 7 - 7 - 7;
        let payloads = vec![payload(first_len, 1), payload(50, 2)];
        let file = frame(&payloads);
        let (got, types) = decode(&file).expect("decodes");
        assert_eq!(got, payloads);
        assert_eq!(types, vec![ChunkType::Full, ChunkType::First, ChunkType::Last]);
        let first_chunk_at = 7 + 7 + first_len;
        assert_eq!(BLOCK_SIZE - first_chunk_at, 7);
        assert_eq!(&file[first_chunk_at + 4..first_chunk_at + 7], &[0, 0, ChunkType::First as u8]);
    }

    #[test]
    fn six_bytes_left_are_zero_filled() {
        let first_len = BLOCK_SIZE - 7 - 7 - 6;
        let payloads = vec![payload(first_len, 1), payload(50, 2)];
        let file = frame(&payloads);
        let (got, types) = decode(&file).expect("decodes");
        assert_eq!(got, payloads);
        assert_eq!(types, vec![ChunkType::Full, ChunkType::Full]);
        assert_eq!(&file[BLOCK_SIZE - 6..BLOCK_SIZE], &[0u8; 6]);
        assert_eq!(file.len(), BLOCK_SIZE + 7 + 50);
    }

    #[test]
    fn record_ending_exactly_at_block_end() {
        let first_len = BLOCK_SIZE - 7 - 7;
        let payloads = vec![payload(first_len, 1), payload(5, 2)];
        let file = frame(&payloads);
        let (got, _) = decode(&file).expect("decodes");
        assert_eq!(got, payloads);
        assert_eq!(file.len(), BLOCK_SIZE + 7 + 5);
    }

    #[test]
    fn every_tail_length_round_trips() {
        // Records of every length near a block end, so each left-over from 0 to 8 bytes occurs.
        for tail in 0..=8usize {
            let first_len = BLOCK_SIZE - 7 - 7 - tail;
            let payloads = vec![payload(first_len, 3), payload(0, 4), payload(BLOCK_SIZE * 2, 5)];
            let file = frame(&payloads);
            let (got, _) = decode(&file).unwrap_or_else(|e| panic!("tail {tail}: {e}"));
            assert_eq!(got, payloads, "tail {tail}");
        }
    }

    #[test]
    fn crc_is_ieee_over_type_then_payload() {
        let file = frame(&[b"abc".to_vec()]);
        let mut h = crc32fast::Hasher::new();
        h.update(&[1, b'a', b'b', b'c']);
        assert_eq!(&file[7..11], &h.finalize().to_le_bytes());
        // zlib.crc32(b"\x01abc") computed independently.
        assert_eq!(u32::from_le_bytes([file[7], file[8], file[9], file[10]]), crc_ieee(&[1, b'a', b'b', b'c']));
    }

    /// Bitwise IEEE CRC-32, independent of crc32fast.
    fn crc_ieee(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
