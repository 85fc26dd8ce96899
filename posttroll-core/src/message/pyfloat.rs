//! Python's `repr(float)`, which `json.dumps` uses for floats.
//!
//! Python writes the shortest digits that read back to the same float (as
//! Rust does), but lays them out its own way: positional notation when the
//! decimal exponent is in `-4 < e <= 16` (with `.0` added to whole numbers),
//! else scientific with a signed, at least two-digit exponent: `1e+20`,
//! `1e-05`, `1.2345e+16`. JSON also gets `NaN`, `Infinity` and `-Infinity`.

use super::lexer::POW10;

/// Appends the Python JSON form of `x` to `out`.
pub(crate) fn write_json_float(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    write_repr(out, x);
}

/// Appends Python's `repr(x)` of a finite float to `out`.
pub(crate) fn write_repr(out: &mut Vec<u8>, x: f64) {
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    if let Some((m, k)) = short_decimal(x.abs()) {
        write_decimal(out, x < 0.0, m, k);
        return;
    }
    // ryu gives the shortest round-trip digits (as Python's repr does), in
    // its own layout: `d.ddd`, `0.000ddd` or `d.ddde-N`. Between 1e-4 and
    // 1e16 both lay them out the same way (ryu writes positional notation
    // from 1e-5 up to 1e16, Python from 1e-4); elsewhere, re-lay them out.
    let mut rb = ryu::Buffer::new();
    let s = rb.format_finite(x).as_bytes();
    if (1e-4..1e16).contains(&x.abs()) {
        out.extend_from_slice(s);
        return;
    }
    relayout_ryu(out, s);
}

/// The shortest decimal `m / 10^k` that reads back as `a`, when `a` is
/// between 1e-4 and 1e15 and that decimal has at most 15 significant
/// digits (the usual case for measured values: `23.4567`); `None` otherwise.
///
/// `a · 10^k` is scaled below 2^50, where one rounding of the product and
/// half an ulp of `a` (scaled) stay below 0.2: every decimal with at most
/// `k` fraction digits that reads back as `a` then scales to the same
/// integer `m = round(a · 10^k)`. So there is at most one, and when
/// `m / 10^k` (`m` and `10^k` exact, one correctly rounded division)
/// reads back as `a`, `m` without its trailing zeros is the shortest
/// round-trip decimal, the one Python's `repr` writes.
#[inline]
fn short_decimal(a: f64) -> Option<(u64, usize)> {
    if !(1e-4..1e15).contains(&a) {
        return None;
    }
    // Digits of `b = a · 10^4` (1 <= b < 10^19) before the point, about:
    // 10^(p-1) <= b < 10^p, from the binary exponent (log10(2) ≈ 1233/4096).
    let b = a * 1e4;
    let e2 = (((b.to_bits() >> 52) & 0x7ff) as usize).checked_sub(1023)?;
    let mut p = ((e2 * 1233) >> 12) + 1;
    if POW10.get(p).is_some_and(|&t| b >= t) {
        p += 1;
    }
    // Scaled to 15 digits, below 2^50.
    let mut k = 19usize.checked_sub(p)?;
    let mut y = a * POW10[k];
    while y >= (1u64 << 50) as f64 {
        k = k.checked_sub(1)?;
        y = a * POW10[k];
    }
    let mut m = y.round() as u64;
    // Trailing zeros off, eight, four, two, one at a time.
    for (zeros, unit) in [(8, 100_000_000), (4, 10_000), (2, 100), (1, 10)] {
        while k >= zeros && m.is_multiple_of(unit) {
            m /= unit;
            k -= zeros;
        }
    }
    (m as f64 / POW10[k] == a).then_some((m, k))
}

/// Writes `-`, then `m / 10^k` positionally, with `.0` when whole.
fn write_decimal(out: &mut Vec<u8>, negative: bool, mut m: u64, k: usize) {
    // At most 16 digits, padded with zeros to k + 1 (`0.000123`).
    let mut digits = [b'0'; 24];
    let mut end = digits.len();
    while m > 0 {
        end -= 1;
        digits[end] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    let start = end.min(digits.len() - (k + 1));
    let point = digits.len() - k;
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[start..point]);
    out.push(b'.');
    if k == 0 {
        out.push(b'0');
    } else {
        out.extend_from_slice(&digits[point..]);
    }
}

/// Re-lays out ryu's output for `x` (finite, not zero) as Python does.
#[cfg(test)]
fn relayout(out: &mut Vec<u8>, x: f64) {
    let mut rb = ryu::Buffer::new();
    relayout_ryu(out, rb.format_finite(x).as_bytes());
}

/// Re-lays out `s`, ryu's output for a finite float other than zero, as
/// Python's `repr`.
fn relayout_ryu(out: &mut Vec<u8>, s: &[u8]) {
    let (negative, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let epos = s.iter().position(|&c| c == b'e').unwrap_or(s.len());
    let exp: i32 = std::str::from_utf8(s.get(epos + 1..).unwrap_or_default())
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 32];
    let mut nd = 0;
    let mut before_point: i32 = 0;
    let mut seen_point = false;
    for &c in &s[..epos] {
        if c == b'.' {
            seen_point = true;
        } else if nd < digits.len() {
            digits[nd] = c;
            nd += 1;
            if !seen_point {
                before_point += 1;
            }
        }
    }
    // The value is 0.d1d2...dn * 10^decpt, once leading zeros are dropped.
    let mut decpt = before_point + exp;
    let mut first = 0;
    while first < nd && digits[first] == b'0' {
        first += 1;
        decpt -= 1;
    }
    let mut last = nd;
    while last > first && digits[last - 1] == b'0' {
        last -= 1;
    }
    let digits = &digits[first..last];
    if negative {
        out.push(b'-');
    }
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', decpt.unsigned_abs() as usize));
            out.extend_from_slice(digits);
        } else {
            let d = decpt as usize;
            if digits.len() <= d {
                out.extend_from_slice(digits);
                out.extend(std::iter::repeat_n(b'0', d - digits.len()));
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..d]);
                out.push(b'.');
                out.extend_from_slice(&digits[d..]);
            }
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = decpt - 1;
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        let ea = e.unsigned_abs();
        if ea < 10 {
            out.push(b'0');
        }
        if ea >= 100 {
            out.push(b'0' + (ea / 100) as u8);
        }
        if ea >= 10 {
            out.push(b'0' + (ea / 10 % 10) as u8);
        }
        out.push(b'0' + (ea % 10) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64: a reproducible stream of bits.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    fn repr(x: f64) -> String {
        let mut v = Vec::new();
        write_json_float(&mut v, x);
        String::from_utf8(v).unwrap()
    }

    /// The short decimals are ryu's shortest digits, on all kinds of
    /// floats: decimal-looking ones above all.
    #[test]
    fn short_decimals_match_ryu() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut short = 0;
        for i in 0..2_000_000u64 {
            let x = next(&mut state);
            let f = match i % 5 {
                0 => f64::from_bits(x),
                // A decimal of up to 17 digits at any scale in range.
                1 | 2 => {
                    let digits = 1 + (x >> 50) % 17;
                    let m = (x >> 3) % 10u64.pow(digits as u32);
                    m as f64 / 10f64.powi((x >> 20) as i32 % 20 - 2)
                }
                3 => (x % 1_000_000_000) as f64,
                // Near the ends of the range.
                _ => {
                    let end = if x & 1 == 0 { 1e-4 } else { 1e15 };
                    end * (1.0 + ((x >> 8) % 2001) as f64 * 1e-15 - 1e-12)
                }
            };
            if !f.is_finite() || f == 0.0 {
                continue;
            }
            let mut fast = Vec::new();
            write_repr(&mut fast, f);
            let mut slow = Vec::new();
            if (1e-4..1e16).contains(&f.abs()) {
                let mut rb = ryu::Buffer::new();
                slow.extend_from_slice(rb.format_finite(f).as_bytes());
            } else {
                relayout(&mut slow, f);
            }
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow),
                "{f:e} ({:#x})",
                f.to_bits()
            );
            short += usize::from(short_decimal(f.abs()).is_some());
        }
        assert!(short > 500_000, "{short}");
    }

    /// The ryu layout taken as is (1e-4 to 1e16) is the re-laid-out one.
    #[test]
    fn fast_range_matches_relayout() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut checked = 0;
        for i in 0..400_000u64 {
            let x = next(&mut state);
            let f = match i % 4 {
                0 => f64::from_bits(x),
                // Near the ends of the range.
                1 => 1e-4 * (1.0 + (x % 1000) as f64 * 1e-12) * if x & 1 == 0 { 1.0 } else { -1.0 },
                2 => 1e16 * (1.0 - (x % 1000) as f64 * 1e-16),
                _ => (x % 100_000_000) as f64 / 10f64.powi((x >> 40) as i32 % 20),
            };
            if !f.is_finite() || f == 0.0 || !(1e-4..1e16).contains(&f.abs()) {
                continue;
            }
            let mut fast = Vec::new();
            write_repr(&mut fast, f);
            let mut slow = Vec::new();
            relayout(&mut slow, f);
            assert_eq!(fast, slow, "{f:e}");
            checked += 1;
        }
        assert!(checked > 100_000);
    }

    #[test]
    fn python_reprs() {
        let cases: &[(f64, &str)] = &[
            (1.2345, "1.2345"),
            (2.0, "2.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e20, "1e+20"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (23.4567, "23.4567"),
            (-12.5, "-12.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1234567890123456.7, "1234567890123456.8"),
            (0.00012345, "0.00012345"),
        ];
        for (x, want) in cases {
            assert_eq!(repr(*x), *want, "repr of {x:e}");
        }
    }
}
