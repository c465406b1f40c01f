//! JSON numbers compared by value, exactly.
//!
//! serde_json's `arbitrary_precision` keeps a number as the text it was
//! parsed from, so `1.2` and `1.2000` are different `Value`s, while RFC 8259
//! §6 gives them one value. Matching compares the [canonical](write_canonical)
//! decimal form instead: the value as `[-]DIGITS` `e` `EXPONENT`, the digits
//! without leading or trailing zeros, so equal values have one form whatever
//! their spelling, and no float ever rounds (`100000000000000000001` and
//! `9007199254740993` stay themselves). The exponent is exact at any size.

/// Digits [`write_canonical`] keeps in an `i128` exponent: far below its
/// 38, so a shift by a number's length (below 2^63) never overflows.
const SMALL_EXPONENT_DIGITS: usize = 36;

/// Writes the canonical form of the JSON number `text` to `out`:
/// `[-]D+e[-]X`, where `D+` has neither leading nor trailing zeros and the
/// value is `D+ × 10^X`; zero is `0` (RFC 8259 has one zero: `-0` is `0`).
/// The form is itself a JSON number. A `text` that is not a JSON number
/// (serde_json never makes one) is written as it is: it cannot equal any
/// canonical form, which is valid JSON.
pub fn write_canonical(text: &str, out: &mut String) {
    match Parts::of(text) {
        Some(parts) => parts.write(out),
        None => out.push_str(text),
    }
}

/// Whether two JSON numbers have the same value.
pub fn same_value(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (mut x, mut y) = (String::new(), String::new());
    write_canonical(a, &mut x);
    write_canonical(b, &mut y);
    x == y
}

/// A number's text cut into its grammar (RFC 8259 §6):
/// `[-] int [. frac] [e|E [+|-] exponent]`.
struct Parts<'t> {
    negative: bool,
    int: &'t [u8],
    frac: &'t [u8],
    exponent_negative: bool,
    /// Without leading zeros; empty for zero.
    exponent: &'t [u8],
}

impl<'t> Parts<'t> {
    fn of(text: &'t str) -> Option<Parts<'t>> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let (mantissa, exponent) = match rest.iter().position(|&b| b == b'e' || b == b'E') {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
            Some(at) => (&mantissa[..at], Some(&mantissa[at + 1..])),
            None => (mantissa, None),
        };
        let digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
        if !digits(int) || frac.is_some_and(|frac| !digits(frac)) {
            return None;
        }
        let (exponent_negative, exponent) = match exponent {
            None => (false, None),
            Some([b'-', rest @ ..]) => (true, Some(rest)),
            Some([b'+', rest @ ..]) => (false, Some(rest)),
            Some(rest) => (false, Some(rest)),
        };
        if exponent.is_some_and(|exponent| !digits(exponent)) {
            return None;
        }
        Some(Parts {
            negative,
            int,
            frac: frac.unwrap_or_default(),
            exponent_negative,
            exponent: strip_leading_zeros(exponent.unwrap_or_default()),
        })
    }

    fn write(&self, out: &mut String) {
        // The significant digits run from the first non-zero digit of
        // int ++ frac to its last.
        let digit = |index: usize| match index.checked_sub(self.int.len()) {
            None => self.int[index],
            Some(in_frac) => self.frac[in_frac],
        };
        let len = self.int.len() + self.frac.len();
        let Some(first) = (0..len).find(|&i| digit(i) != b'0') else {
            out.push('0');
            return;
        };
        let last = (0..len).rev().find(|&i| digit(i) != b'0').unwrap_or(first);
        // value = int.frac × 10^exponent = digits[first..=last] × 10^shifted,
        // with shifted = exponent - frac.len() + trailing zeros dropped.
        let shift = (len - 1 - last) as i128 - self.frac.len() as i128;
        if self.negative {
            out.push('-');
        }
        out.extend((first..=last).map(|i| char::from(digit(i))));
        out.push('e');
        if self.exponent.len() <= SMALL_EXPONENT_DIGITS {
            let exponent = decimal(self.exponent);
            let exponent = if self.exponent_negative {
                -exponent
            } else {
                exponent
            };
            out.push_str(&(exponent + shift).to_string());
        } else {
            // |exponent| >= 10^36 > |shift|: the sign stays, the magnitude
            // moves by the shift (towards zero for a negative exponent).
            if self.exponent_negative {
                out.push('-');
            }
            let delta = if self.exponent_negative {
                -shift
            } else {
                shift
            };
            out.push_str(&add_to_large(self.exponent, delta));
        }
    }
}

fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&b| b == b'0').count();
    &digits[zeros..]
}

/// The value of at most [`SMALL_EXPONENT_DIGITS`] ASCII digits.
fn decimal(digits: &[u8]) -> i128 {
    digits
        .iter()
        .fold(0, |value, &d| value * 10 + i128::from(d - b'0'))
}

/// `magnitude + delta`, in decimal, where `magnitude` (ASCII digits, no
/// leading zero) has more than [`SMALL_EXPONENT_DIGITS`] digits and
/// `|delta| < 10^SMALL_EXPONENT_DIGITS`: only the low digits change, with
/// at most one carry or borrow into the high ones.
fn add_to_large(magnitude: &[u8], delta: i128) -> String {
    const BASE: i128 = 10i128.pow(SMALL_EXPONENT_DIGITS as u32);
    let (high, low) = magnitude.split_at(magnitude.len() - SMALL_EXPONENT_DIGITS);
    let mut high = high.to_vec();
    let mut low = decimal(low) + delta;
    if low >= BASE {
        low -= BASE;
        carry(&mut high);
    } else if low < 0 {
        low += BASE;
        borrow(&mut high);
    }
    let high = strip_leading_zeros(&high);
    let mut sum = String::from_utf8_lossy(high).into_owned();
    if sum.is_empty() {
        sum = low.to_string();
    } else {
        sum.push_str(&format!("{low:036}"));
    }
    sum
}

/// Adds one to ASCII decimal digits.
fn carry(digits: &mut Vec<u8>) {
    for digit in digits.iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return;
        }
    }
    digits.insert(0, b'1');
}

/// Subtracts one from ASCII decimal digits worth at least one.
fn borrow(digits: &mut [u8]) {
    for digit in digits.iter_mut().rev() {
        if *digit == b'0' {
            *digit = b'9';
        } else {
            *digit -= 1;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canonical(text: &str) -> String {
        let mut out = String::new();
        write_canonical(text, &mut out);
        out
    }

    #[test]
    fn spellings_of_one_value_share_a_form() {
        for (spellings, form) in [
            (
                &["1.2", "1.2000", "12e-1", "0.12E1", "120E-2", "0.0000012e+6"][..],
                "12e-1",
            ),
            (&["1", "1.0", "1e0", "10e-1", "0.1E+1", "1.000e00"], "1e0"),
            (
                &[
                    "0",
                    "-0",
                    "0.0",
                    "-0.000e-5",
                    "0e99999999999999999999999999999999999999999",
                ],
                "0",
            ),
            (&["-3", "-3.00", "-0.3e1", "-300e-2"], "-3e0"),
            (&["1000", "1e3", "1E+3", "0.001e6", "10e2"], "1e3"),
            (
                &["100000000000000000001", "1.00000000000000000001e20"],
                "100000000000000000001e0",
            ),
            (
                &["0.1000000000000000000001", "1000000000000000000001e-22"],
                "1000000000000000000001e-22",
            ),
        ] {
            for spelling in spellings {
                assert_eq!(canonical(spelling), form, "{spelling}");
            }
        }
    }

    #[test]
    fn different_values_have_different_forms() {
        for (a, b) in [
            ("100000000000000000001", "100000000000000000000"),
            ("0.1000000000000000000001", "0.1"),
            ("9007199254740993", "9007199254740992"),
            ("1", "-1"),
            ("1e1", "1e-1"),
            ("0.5", "5"),
            (
                "1e999999999999999999999999999999999999999",
                "1e999999999999999999999999999999999999998",
            ),
            (
                "1e999999999999999999999999999999999999999",
                "-1e999999999999999999999999999999999999999",
            ),
            (
                "1e-999999999999999999999999999999999999999",
                "1e999999999999999999999999999999999999999",
            ),
        ] {
            assert_ne!(canonical(a), canonical(b), "{a} vs {b}");
            assert!(!same_value(a, b), "{a} vs {b}");
        }
    }

    /// Exponents past any machine integer: the shift by a spelling's digits
    /// carries and borrows across the 36 low digits.
    #[test]
    fn huge_exponents_shift_exactly() {
        let ten_36 = format!("1{}", "0".repeat(36));
        let nines_36 = "9".repeat(36);
        // 1e(10^36) = 10e(10^36 - 1): a borrow through every low digit.
        assert_eq!(
            canonical(&format!("1e{ten_36}")),
            canonical(&format!("10e{nines_36}"))
        );
        assert_eq!(canonical(&format!("1e{ten_36}")), format!("1e{ten_36}"));
        // 0.1e(10^36 + 1) = 1e(10^36).
        assert_eq!(
            canonical(&format!("0.1e1{}1", "0".repeat(35))),
            format!("1e{ten_36}")
        );
        // 10e(10^37 - 1) = 1e(10^37): a carry into a new digit.
        let nines_37 = "9".repeat(37);
        assert_eq!(
            canonical(&format!("10e{nines_37}")),
            format!("1e1{}", "0".repeat(37))
        );
        // Negative: -(10^36) - 1 + 1 ...
        assert_eq!(
            canonical(&format!("0.01e-{ten_36}")),
            format!("1e-1{}2", "0".repeat(35))
        );
        assert_eq!(
            canonical(&format!("100e-1{}2", "0".repeat(35))),
            format!("1e-{ten_36}")
        );
        // Leading zeros of an exponent change nothing.
        assert_eq!(canonical(&format!("1e000{ten_36}")), format!("1e{ten_36}"));
    }

    #[test]
    fn text_that_is_no_number_is_kept_and_never_equals_one() {
        for text in [
            "", "-", "1.", ".5", "1e", "1e+", "abc", "1.2.3", "--1", "0x10", "1e5.0",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Number>(text).is_err(),
                "{text}"
            );
            assert_eq!(canonical(text), text);
        }
    }

    /// A value: its significant digits (no leading or trailing zero) and
    /// exponent, or zero.
    #[derive(Debug, Clone, PartialEq)]
    struct Value {
        negative: bool,
        digits: String,
        exponent: i64,
    }

    fn value() -> impl Strategy<Value = Value> {
        (
            any::<bool>(),
            "[1-9]([0-9]{0,30}[1-9])?",
            -(1i64 << 40)..(1i64 << 40),
        )
            .prop_map(|(negative, digits, exponent)| Value {
                negative,
                digits,
                exponent,
            })
    }

    /// One of the many JSON spellings of `value`: the decimal point moved
    /// `point` digits into (or around) the digits, zeros padded, the
    /// exponent adjusted to match, `e` or `E`, a `+` or not.
    fn spelling(
        value: &Value,
        point: i64,
        zeros: (usize, usize),
        upper: bool,
        plus: bool,
    ) -> String {
        // value = digits × 10^exponent. Put the point after `point` digits
        // of "0…0 digits 0…0" (zeros.0 leading, zeros.1 trailing).
        let padded = format!(
            "{}{}{}",
            "0".repeat(zeros.0),
            value.digits,
            "0".repeat(zeros.1)
        );
        let point = point.clamp(1, padded.len() as i64) as usize;
        let (int, frac) = padded.split_at(point);
        // JSON allows one leading zero at most: fold extra ones away.
        let int = match int.trim_start_matches('0') {
            "" => "0",
            int => int,
        };
        let exponent = value.exponent + frac.len() as i64 - zeros.1 as i64;
        let sign = if value.negative { "-" } else { "" };
        let e = if upper { "E" } else { "e" };
        let plus = if plus && exponent >= 0 { "+" } else { "" };
        let frac = if frac.is_empty() {
            String::new()
        } else {
            format!(".{frac}")
        };
        format!("{sign}{int}{frac}{e}{plus}{exponent}")
    }

    proptest! {
        #[test]
        fn equal_values_give_equal_forms_and_different_values_different_ones(
            a in value(),
            b in value(),
            points in (0i64..40, 0i64..40),
            zeros in ((0usize..4, 0usize..4), (0usize..4, 0usize..4)),
            style in (any::<bool>(), any::<bool>()),
        ) {
            let a1 = spelling(&a, points.0, zeros.0, style.0, style.1);
            let a2 = spelling(&a, points.1, zeros.1, style.1, style.0);
            // Each spelling is JSON, and each is the value it was made from.
            prop_assert!(serde_json::from_str::<serde_json::Number>(&a1).is_ok(), "{}", a1);
            prop_assert_eq!(canonical(&a1), canonical(&a2), "{} vs {}", a1, a2);
            let sign = if a.negative { "-" } else { "" };
            prop_assert_eq!(canonical(&a1), format!("{sign}{}e{}", a.digits, a.exponent));
            let b1 = spelling(&b, points.1, zeros.1, style.0, style.1);
            prop_assert_eq!(canonical(&a1) == canonical(&b1), a == b, "{} vs {}", a1, b1);
        }

        /// Exponents of 37 to 60 digits, shifted by a spelling: the high
        /// digits are written out, the low ones moved by the point.
        #[test]
        fn huge_exponents_compare_exactly(
            high in "[1-9][0-9]{0,23}",
            low in 1_000_000i64..1_000_000_000_000,
            negative_exponent in any::<bool>(),
            digits in "[1-9]([0-9]{0,10}[1-9])?",
            shift in 0usize..12,
            other_low in 1_000_000i64..1_000_000_000_000,
        ) {
            let exponent = |low: i64| format!("{high}{low:036}");
            let sign = if negative_exponent { "-" } else { "" };
            // digits × 10^E, and the same with `shift` more zeros moved
            // into a fraction: 0.<zeros>digits × 10^(E + shift + len).
            let plain = format!("{digits}e{sign}{}", exponent(low));
            let moved_by = (shift + digits.len()) as i64;
            let moved_low = if negative_exponent { low - moved_by } else { low + moved_by };
            let moved = format!("0.{}{digits}e{sign}{}", "0".repeat(shift), exponent(moved_low));
            prop_assert_eq!(canonical(&plain), canonical(&moved));
            let other = format!("{digits}e{sign}{}", exponent(other_low));
            prop_assert_eq!(canonical(&plain) == canonical(&other), low == other_low);
        }
    }
}
