//! Exact decimal numbers: money and decimal columns are read from the JSON number's text and
//! `$filter` literals from the URL's, then stored and compared exactly, never through `f64`
//! (`98765432109876.1234` has 18 significant digits; an `f64` keeps about 16).

use std::cmp::Ordering;

/// An exact decimal number, `mantissa × 10^exponent`, normalised (the mantissa has no trailing
/// zeros, zero is `0 × 10^0`), so equal values are equal structs. Up to 38 significant digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: i128,
    exponent: i32,
}

/// Exponents beyond this are refused by [`Decimal::parse`] (no column or literal needs them, and
/// the arithmetic stays far from `i32` overflow).
const MAX_EXPONENT: i64 = 100_000;

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal { mantissa: 0, exponent: 0 };

    fn normalised(mut mantissa: i128, mut exponent: i32) -> Self {
        if mantissa == 0 {
            return Self::ZERO;
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Decimal { mantissa, exponent }
    }

    /// A whole number.
    pub fn from_int(i: i64) -> Self {
        Self::normalised(i128::from(i), 0)
    }

    /// `value / 10^scale`, e.g. a stored money value (scaled by 10^4).
    pub fn from_scaled(value: i128, scale: u32) -> Self {
        Self::normalised(value, -i32::try_from(scale).unwrap_or(i32::MAX))
    }

    /// Parses a JSON number or an OData numeric literal (`-12`, `98765432109876.1234`, `1.5E-3`,
    /// `+7`). `None` for anything else, or for more than 38 significant digits.
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let mut i = 0;
        let negative = match b.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        // digits of the integer and fraction parts as one digit string; zeros are held back so
        // trailing zeros never enter the mantissa (they go to the exponent)
        let mut mantissa: i128 = 0;
        let mut zeros: i64 = 0;
        let mut digits = 0usize;
        let mut fraction: i64 = 0;
        let mut in_fraction = false;
        while let Some(&c) = b.get(i) {
            match c {
                b'0' => zeros += 1,
                b'1'..=b'9' => {
                    let digit = i128::from(c - b'0');
                    mantissa = if mantissa == 0 {
                        digit // leading zeros are no digits of the mantissa
                    } else {
                        let scale = 10i128.checked_pow(u32::try_from(zeros + 1).ok()?)?;
                        mantissa.checked_mul(scale)?.checked_add(digit)?
                    };
                    zeros = 0;
                }
                b'.' if !in_fraction => {
                    in_fraction = true;
                    i += 1;
                    continue;
                }
                _ => break,
            }
            digits += 1;
            if in_fraction {
                fraction += 1;
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        let mut exponent: i64 = 0;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            let sign = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    -1
                }
                Some(b'+') => {
                    i += 1;
                    1
                }
                _ => 1,
            };
            let start = i;
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                exponent = exponent * 10 + i64::from(c - b'0');
                if exponent > MAX_EXPONENT {
                    return None;
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            exponent *= sign;
        }
        if i != b.len() {
            return None;
        }
        if mantissa == 0 {
            return Some(Self::ZERO);
        }
        let exponent = i32::try_from(exponent + zeros - fraction).ok()?;
        Some(Decimal { mantissa: if negative { -mantissa } else { mantissa }, exponent })
    }

    /// The value rounded to `keep` decimal places (half away from zero, as SQL Server rounds), then
    /// scaled by `10^scale`: `1.23456` with `keep` 2 and `scale` 4 is `12300`. `None` when the
    /// result does not fit an `i128` or `keep > scale`.
    pub fn to_scaled(&self, scale: u32, keep: u32) -> Option<i128> {
        if keep > scale {
            return None;
        }
        let e = i64::from(self.exponent) + i64::from(keep);
        let rounded = if e >= 0 {
            self.mantissa.checked_mul(10i128.checked_pow(u32::try_from(e).ok()?)?)?
        } else {
            match u32::try_from(-e).ok().and_then(|d| 10i128.checked_pow(d)) {
                // |mantissa| < 10^39 / 2: rounds to zero
                None => 0,
                Some(p) => {
                    let (q, r) = (self.mantissa / p, self.mantissa % p);
                    if r.unsigned_abs() * 2 >= p.unsigned_abs() {
                        q + self.mantissa.signum()
                    } else {
                        q
                    }
                }
            }
        };
        rounded.checked_mul(10i128.checked_pow(scale - keep)?)
    }
}

/// Compares magnitudes of two non-zero values.
fn cmp_magnitude(x: &Decimal, y: &Decimal) -> Ordering {
    if x.exponent < y.exponent {
        return cmp_magnitude(y, x).reverse();
    }
    let (xm, ym) = (x.mantissa.unsigned_abs(), y.mantissa.unsigned_abs());
    let k = u32::try_from(i64::from(x.exponent) - i64::from(y.exponent)).unwrap_or(u32::MAX);
    match 10u128.checked_pow(k).and_then(|p| xm.checked_mul(p)) {
        Some(aligned) => aligned.cmp(&ym),
        // |x| ≥ 10^k > u128::MAX ≥ |y|
        None => Ordering::Greater,
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.mantissa.signum(), other.mantissa.signum());
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let m = cmp_magnitude(self, other);
        if a > 0 {
            m
        } else {
            m.reverse()
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn parses_exactly_and_normalises() {
        assert_eq!(d("98765432109876.1234"), Decimal { mantissa: 987_654_321_098_761_234, exponent: -4 });
        assert_eq!(d("1.50"), d("1.5"));
        assert_eq!(d("1500"), Decimal { mantissa: 15, exponent: 2 });
        assert_eq!(d("1.5E3"), d("1500"));
        assert_eq!(d("-0.000"), Decimal::ZERO);
        assert_eq!(d("+7"), Decimal::from_int(7));
        assert_eq!(d("12e-2"), d("0.12"));
        assert_eq!(d(&format!("0.{}1", "0".repeat(50))), Decimal { mantissa: 1, exponent: -51 });
        assert_eq!(d(&format!("1{}", "0".repeat(60))), Decimal { mantissa: 1, exponent: 60 });
        assert_eq!(Decimal::from_scaled(987_654_321_098_761_234, 4), d("98765432109876.1234"));
        for bad in ["", "-", ".", "1.2.3", "1e", "e5", "0x10", "1,5", " 1", "NaN", "inf", "1e999999", &"9".repeat(40)] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn compares_exactly() {
        // f64 cannot tell these apart
        assert!(d("98765432109876.1234") > d("98765432109876.1233"));
        assert!(d("-98765432109876.1234") < d("-98765432109876.1233"));
        assert_eq!(d("2.50").cmp(&d("2.5")), Ordering::Equal);
        assert!(d("-1") < Decimal::ZERO && Decimal::ZERO < d("0.0001"));
        assert!(d("1e60") > d(&"9".repeat(38)));
        assert!(d("1e-60") < d("1e-59"));
    }

    #[test]
    fn scales_with_rounding() {
        assert_eq!(d("98765432109876.1234").to_scaled(4, 4), Some(987_654_321_098_761_234));
        assert_eq!(d("1.23456").to_scaled(4, 2), Some(12_300));
        assert_eq!(d("1.235").to_scaled(4, 2), Some(12_400));
        assert_eq!(d("-1.235").to_scaled(4, 2), Some(-12_400));
        assert_eq!(d("0.00004").to_scaled(4, 4), Some(0));
        assert_eq!(d("0.00005").to_scaled(4, 4), Some(1));
        assert_eq!(d("1e-50").to_scaled(4, 4), Some(0));
        assert_eq!(d("5000000").to_scaled(4, 4), Some(50_000_000_000));
        assert_eq!(d("1e40").to_scaled(4, 4), None);
        assert_eq!(d("1").to_scaled(2, 4), None);
    }
}
