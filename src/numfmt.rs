//! Fast fixed-point formatting of floats for CSV output: the hot path of writing
//! millions of rows, where `format!("{:.2}")` would dominate the run time.

/// Where formatted numbers go: text, or the bytes of a line being built. Only
/// ASCII (digits, a sign, a point) is ever pushed.
pub trait Ascii {
    /// Appends `bytes`, all ASCII.
    fn push_ascii(&mut self, bytes: &[u8]);
}

impl Ascii for String {
    fn push_ascii(&mut self, bytes: &[u8]) {
        // ASCII is UTF-8: the conversion never fails.
        self.push_str(std::str::from_utf8(bytes).unwrap_or_default());
    }
}

impl Ascii for Vec<u8> {
    fn push_ascii(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Appends `v` with exactly `decimals` digits after the point (at most 6), rounding
/// half away from zero; non-finite values append nothing (an empty cell). A value
/// too large for that in 19 digits (a corrupt reading's sigma) is written as
/// `1.645e300`, which CSV readers take as the same number, rather than as 300
/// digits of noise. The number is built on the stack and appended at once.
pub fn push_fixed(out: &mut impl Ascii, v: f64, decimals: u32) {
    if !v.is_finite() {
        return;
    }
    let decimals = decimals.min(6);
    let scale = 10u64.pow(decimals);
    let scaled = (v.abs() * scale as f64).round();
    if scaled >= 9e18 {
        out.push_ascii(format!("{v:.3e}").as_bytes());
        return;
    }
    let scaled = scaled as u64;
    // Filled from the end: the fraction's digits, the point, the whole part's
    // digits, the sign.
    let mut text = [b'0'; 32];
    let mut at = text.len();
    let mut push = |digit: u8| {
        at -= 1;
        text[at] = digit;
    };
    let (mut whole, mut fraction) = (scaled / scale, scaled % scale);
    if decimals > 0 {
        for _ in 0..decimals {
            push(b'0' + (fraction % 10) as u8);
            fraction /= 10;
        }
        push(b'.');
    }
    loop {
        push(b'0' + (whole % 10) as u8);
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    if v < 0.0 && scaled != 0 {
        push(b'-');
    }
    out.push_ascii(&text[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(v: f64, d: u32) -> String {
        let mut s = String::new();
        push_fixed(&mut s, v, d);
        s
    }

    #[test]
    fn matches_std_formatting() {
        for (v, d) in [
            (0.0, 2),
            (1.005, 2),
            (12.345, 1),
            (-3.5, 0),
            (99.999, 2),
            (0.07, 3),
            (-0.0001, 2),
            (1234567.891, 3),
        ] {
            assert_eq!(
                fixed(v, d),
                format!(
                    "{:.*}",
                    d as usize,
                    if fixed(v, d).starts_with('-') {
                        v
                    } else {
                        v.abs()
                    }
                ),
                "{v} {d}"
            );
        }
        assert_eq!(fixed(f64::NAN, 2), "");
        assert_eq!(fixed(1.6449e300, 2), "1.645e300");
        let mut bytes = b"x=".to_vec();
        push_fixed(&mut bytes, -0.25, 3);
        assert_eq!(bytes, b"x=-0.250");
    }
}
