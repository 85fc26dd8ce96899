//! Word-at-a-time (SWAR) byte scanning: eight bytes per step, no `unsafe`.
//!
//! Each search looks for the first "special" byte of a class. A whole 8-byte
//! word is tested with the classic bit tricks: for `has_less(w, n)` the high
//! bit of a byte is set when the byte is below `n`; a borrow out of a flagged
//! byte may also flag bytes *above* it, never below, so the lowest flagged
//! byte (the first in memory, as words are read little-endian) is exact, and
//! so is the lowest of several such masks OR-ed together. The tail shorter
//! than a word is padded with a byte that no class treats as special.

/// 0x01 in every byte.
const LO: u64 = 0x0101_0101_0101_0101;
/// 0x80 in every byte.
const HI: u64 = 0x8080_8080_8080_8080;
/// The padding of a partial word: special to no class below.
const PAD: u8 = b'a';

/// High bit set in the bytes of `w` below `n` (`n <= 0x80`); exact for the
/// lowest flagged byte only.
#[inline(always)]
const fn less_than(w: u64, n: u8) -> u64 {
    w.wrapping_sub(LO * n as u64) & !w & HI
}

/// High bit set in the bytes of `w` equal to `b`; exact for the lowest
/// flagged byte only.
#[inline(always)]
const fn equal_to(w: u64, b: u8) -> u64 {
    less_than(w ^ (LO * b as u64), 1)
}

/// High bit set in the bytes of `w` that are 0x7f or above (exact).
#[inline(always)]
const fn at_least_7f(w: u64) -> u64 {
    // (b & 0x7f) + 1 never carries out of its byte.
    (((w & !HI) + LO) | w) & HI
}

/// The first 8-byte word of `c` (which has exactly 8 bytes), little-endian.
#[inline(always)]
pub(crate) fn load(c: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    u64::from_le_bytes(a)
}

/// Index of the first byte of `b` at or after `from` flagged by `mask`
/// (a word test as above), or `b.len()` when there is none.
#[inline(always)]
fn find(b: &[u8], from: usize, mask: impl Fn(u64) -> u64) -> usize {
    let Some(rest) = b.get(from..) else {
        return b.len();
    };
    let mut i = from;
    for c in rest.chunks_exact(8) {
        let m = mask(load(c));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if i == b.len() {
        return i;
    }
    let (w, base) = tail_word(b, i);
    let m = mask(w);
    if m != 0 {
        base + (m.trailing_zeros() / 8) as usize
    } else {
        b.len()
    }
}

/// The last bytes of `b`, from `i` (fewer than 8 of them), as a word
/// padded with [`PAD`], and the index in `b` of the word's first byte.
#[inline(always)]
fn tail_word(b: &[u8], i: usize) -> (u64, usize) {
    let pad = LO * PAD as u64;
    match b.len().checked_sub(8) {
        Some(base) => {
            // Re-read the last 8 bytes, the ones before `i` replaced by
            // padding (so they flag nothing, not even through a borrow).
            let keep = !0u64 << (8 * (i - base));
            ((load(&b[base..]) & keep) | (pad & !keep), base)
        }
        None => (short_word(&b[i..]), i),
    }
}

/// `t` (fewer than 8 bytes) as a little-endian word padded with [`PAD`],
/// from at most three loads whatever its length.
#[inline(always)]
pub(crate) fn short_word(t: &[u8]) -> u64 {
    let n = t.len();
    let w = if n >= 4 {
        // Two overlapping 4-byte loads; the shared bytes are equal.
        let mut lo = [0u8; 4];
        let mut hi = [0u8; 4];
        lo.copy_from_slice(&t[..4]);
        hi.copy_from_slice(&t[n - 4..]);
        u64::from(u32::from_le_bytes(lo)) | u64::from(u32::from_le_bytes(hi)) << (8 * (n - 4))
    } else if n > 0 {
        // First, middle and last byte: all of 1 to 3 bytes.
        u64::from(t[0])
            | u64::from(t[n / 2]) << (8 * (n / 2))
            | u64::from(t[n - 1]) << (8 * (n - 1))
    } else {
        0
    };
    w | (LO * PAD as u64) << (8 * n)
}

/// The eight bytes of `b` from `i` as a little-endian word, padded with
/// [`PAD`] past the end of `b` (all padding from `b.len()` on).
#[inline(always)]
pub(crate) fn word_at(b: &[u8], i: usize) -> u64 {
    match b.get(i..i + 8) {
        Some(w) => load(w),
        None => short_word(b.get(i..).unwrap_or_default()),
    }
}

/// A cheap 64-bit digest of a short key, to tell keys apart before
/// comparing them: its length, first and last eight bytes (not a hash: no
/// resistance to chosen keys, which the map's hash index takes care of).
#[inline]
pub(crate) fn fingerprint(s: &str) -> u64 {
    let b = s.as_bytes();
    let n = b.len();
    let w = match b.get(..8) {
        Some(head) => load(head) ^ load(&b[n - 8..]).rotate_left(29),
        None => short_word(b),
    };
    w ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The first byte at or after `from` that can end a header field: ASCII
/// whitespace or control (`<= 0x20`) or the start of a non-ASCII character
/// (`>= 0x80`, which may be Unicode whitespace). `b.len()` if none.
#[inline]
pub(crate) fn find_field_break(b: &[u8], from: usize) -> usize {
    find(b, from, |w| (w.wrapping_sub(LO * 0x21) | w) & HI)
}

/// The first byte at or after `from` that ends the plain part of a JSON
/// string: `"`, `\` or a control character (`< 0x20`). `b.len()` if none.
#[inline]
pub(crate) fn find_string_stop(b: &[u8], from: usize) -> usize {
    find(b, from, |w| {
        less_than(w, 0x20) | equal_to(w, b'"') | equal_to(w, b'\\')
    })
}

/// High bit set in the bytes of `w` that `json.dumps` does not copy as is
/// (see [`find_escape`]); exact for the lowest flagged byte only, and never
/// set in [`short_word`]'s padding.
#[inline(always)]
pub(crate) fn escape_mask(w: u64) -> u64 {
    less_than(w, 0x20) | at_least_7f(w) | equal_to(w, b'"') | equal_to(w, b'\\')
}

/// The first byte at or after `from` that `json.dumps` does not copy as is:
/// anything outside printable ASCII (`0x20..=0x7e`), `"` and `\`.
/// `b.len()` if none.
#[cfg(test)]
pub(crate) fn find_escape(b: &[u8], from: usize) -> usize {
    find(b, from, escape_mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(b: &[u8], from: usize, special: impl Fn(u8) -> bool) -> usize {
        (from..b.len()).find(|&i| special(b[i])).unwrap_or(b.len())
    }

    fn field_break(c: u8) -> bool {
        c <= 0x20 || c >= 0x80
    }

    fn string_stop(c: u8) -> bool {
        c == b'"' || c == b'\\' || c < 0x20
    }

    fn escape(c: u8) -> bool {
        !(b' '..=b'~').contains(&c) || c == b'"' || c == b'\\'
    }

    /// Runs every search on `b` from every start and compares it with the
    /// byte-at-a-time version.
    fn check_all(b: &[u8]) {
        for from in 0..=b.len() + 1 {
            let want = |f: fn(u8) -> bool| naive(b, from.min(b.len()), f);
            assert_eq!(find_field_break(b, from), want(field_break), "{b:?} {from}");
            assert_eq!(find_string_stop(b, from), want(string_stop), "{b:?} {from}");
            assert_eq!(find_escape(b, from), want(escape), "{b:?} {from}");
        }
    }

    #[test]
    fn every_byte_at_every_position() {
        for filler in [PAD, b'0', 0x7e, 0x21, 0x5d] {
            for len in 0..=17 {
                for pos in 0..len {
                    for v in 0..=255u8 {
                        let mut b = vec![filler; len];
                        b[pos] = v;
                        check_all(&b);
                    }
                }
            }
        }
    }

    #[test]
    fn words_at_are_padded_bytes() {
        let b: Vec<u8> = (1..=20).collect();
        for len in 0..=20 {
            for i in 0..=24 {
                let mut want = [PAD; 8];
                for (k, slot) in want.iter_mut().enumerate() {
                    if i + k < len {
                        *slot = b[i + k];
                    }
                }
                assert_eq!(word_at(&b[..len], i), u64::from_le_bytes(want), "{len} {i}");
            }
        }
    }

    #[test]
    fn short_words_are_padded_bytes() {
        for n in 0..8 {
            for pos in 0..n {
                for v in 0..=255u8 {
                    let mut t = vec![b'x'; n];
                    t[pos] = v;
                    let mut want = [PAD; 8];
                    want[..n].copy_from_slice(&t);
                    assert_eq!(short_word(&t), u64::from_le_bytes(want), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn every_pair_of_adjacent_bytes() {
        // Borrows out of one byte must not hide or fake the next one.
        for pos in [0, 6, 7, 8] {
            for v in 0..=255u8 {
                for w in 0..=255u8 {
                    let mut b = [PAD; 11];
                    b[pos] = v;
                    b[pos + 1] = w;
                    check_all(&b);
                }
            }
        }
    }

    #[test]
    fn random_buffers() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let b: Vec<u8> = (0..len)
                .map(|i| {
                    let r = x.rotate_left(i as u32 * 5) as u8;
                    // Mostly plain bytes, some special ones.
                    if r.is_multiple_of(5) {
                        r
                    } else {
                        b'A' + r % 26
                    }
                })
                .collect();
            check_all(&b);
        }
    }
}
