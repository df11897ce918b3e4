//! Fast fixed-point formatting of floats for CSV output: the hot path of writing
//! millions of rows, where `format!("{:.2}")` would dominate the run time.

/// Appends `v` with exactly `decimals` digits after the point (at most 6), rounding
/// half away from zero; non-finite values append nothing (an empty cell).
pub fn push_fixed(out: &mut String, v: f64, decimals: u32) {
    if !v.is_finite() {
        return;
    }
    let scale = 10u64.pow(decimals.min(6));
    let scaled = (v.abs() * scale as f64).round();
    if scaled >= 9e18 {
        use std::fmt::Write;
        let _ = write!(out, "{v:.prec$}", prec = decimals as usize);
        return;
    }
    let scaled = scaled as u64;
    if v < 0.0 && scaled != 0 {
        out.push('-');
    }
    push_digits(out, scaled / scale, 0);
    if decimals > 0 {
        out.push('.');
        push_digits(out, scaled % scale, decimals as usize);
    }
}

/// Appends `n` in decimal, left-padded with zeros to `width` digits.
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(digits.len() - width.min(20));
    out.extend(digits[start..].iter().map(|&d| d as char));
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
    }
}
