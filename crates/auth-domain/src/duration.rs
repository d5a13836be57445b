//! ISO-8601 durations exactly as `java.time.Duration.parse` accepts them:
//! `[-+]P[nD][T[nH][nM][n[.f]S]]`, case-insensitive, days counted as 24 h,
//! each number optionally signed, a fraction (up to 9 digits, `.` or `,`)
//! on seconds only. Years and months are not durations (`P1Y`, `P1M` are
//! refused), nor are `P` or `PT` alone.

use time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an ISO-8601 duration such as P30D, PT2H or P1DT12H30M ({reason})")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let upper = input.to_ascii_uppercase();
    let mut rest = upper.as_str();
    let negate_all = match rest.as_bytes().first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    rest = rest
        .strip_prefix('P')
        .ok_or_else(|| err("must start with P"))?;
    let (date_part, time_part) = match rest.find('T') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut total_nanos: i128 = 0;
    let mut any = false;

    if !date_part.is_empty() {
        let num = date_part
            .strip_suffix('D')
            .ok_or_else(|| err("only days (D) may precede T"))?;
        total_nanos +=
            parse_int(num).ok_or_else(|| err("bad number of days"))? * 86_400 * 1_000_000_000;
        any = true;
    }
    if let Some(mut t) = time_part {
        if t.is_empty() {
            return Err(err("T must be followed by hours, minutes or seconds"));
        }
        for (unit, nanos_per) in [('H', 3_600i128), ('M', 60)] {
            if let Some(i) = find_unit(t, unit) {
                total_nanos += parse_int(&t[..i]).ok_or_else(|| err("bad number"))?
                    * nanos_per
                    * 1_000_000_000;
                t = &t[i + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            let num = t
                .strip_suffix('S')
                .ok_or_else(|| err("unexpected characters after the time part"))?;
            total_nanos += parse_seconds(num).ok_or_else(|| err("bad number of seconds"))?;
            any = true;
        }
    }
    if !any {
        return Err(err("no days, hours, minutes or seconds given"));
    }
    if negate_all {
        total_nanos = -total_nanos;
    }
    let secs = i64::try_from(total_nanos / 1_000_000_000).map_err(|_| err("out of range"))?;
    let nanos = (total_nanos % 1_000_000_000) as i32;
    Ok(Duration::new(secs, nanos))
}

/// Index of `unit` if the text before it is a (signed) number.
fn find_unit(t: &str, unit: char) -> Option<usize> {
    let i = t.find(unit)?;
    parse_int(&t[..i]).map(|_| i)
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, digits) = split_sign(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 19 {
        return None;
    }
    let v: i128 = digits.parse().ok()?;
    if v > i128::from(i64::MAX) {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// Seconds with an optional fraction, in nanoseconds. As in Java, the sign
/// applies to the fraction too (`-1.5` is minus one and a half seconds).
fn parse_seconds(s: &str) -> Option<i128> {
    let (neg, body) = split_sign(s);
    let (whole, frac) = match body.find(['.', ',']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if whole.starts_with(['+', '-']) {
        return None;
    }
    let whole = parse_int(whole)?;
    let mut nanos = whole * 1_000_000_000;
    if let Some(f) = frac {
        if f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !f.is_empty() {
            let padded = format!("{f:0<9}");
            nanos += padded.parse::<i128>().ok()?;
        }
    }
    Some(if neg { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(ok("P30D"), Duration::days(30));
        assert_eq!(ok("P7D"), Duration::days(7));
        assert_eq!(ok("PT2H"), Duration::hours(2));
        assert_eq!(
            ok("P1DT12H30M"),
            Duration::days(1) + Duration::hours(12) + Duration::minutes(30)
        );
        assert_eq!(ok("PT0.5S"), Duration::milliseconds(500));
        assert_eq!(ok("PT6S"), Duration::seconds(6));
        assert_eq!(ok("pt15m"), Duration::minutes(15));
        assert_eq!(ok("PT1,25S"), Duration::milliseconds(1250));
        assert_eq!(ok("PT1.S"), Duration::seconds(1));
        assert_eq!(ok("PT0.000000001S"), Duration::nanoseconds(1));
        assert_eq!(ok("P0D"), Duration::ZERO);
    }

    #[test]
    fn accepts_negative_forms_like_java() {
        assert_eq!(ok("-PT6H"), Duration::hours(-6));
        assert_eq!(ok("PT-6H"), Duration::hours(-6));
        assert_eq!(ok("-PT-6H"), Duration::hours(6));
        assert_eq!(ok("PT-0.5S"), Duration::milliseconds(-500));
        assert_eq!(ok("P-1DT2H"), Duration::hours(-22));
        assert_eq!(ok("+PT1M"), Duration::minutes(1));
    }

    #[test]
    fn rejects_years_months_and_garbage() {
        for bad in [
            "",
            "P",
            "PT",
            "P1Y",
            "P1M",
            "P1W",
            "1D",
            "PT1D",
            "P1H",
            "PT1.5M",
            "PT1.1234567890S",
            "P1DT",
            "PTS",
            "PT1HS",
            "PT1M1H",
            "P 1D",
            "P1D ",
            "P--1D",
            "PT+-1S",
            "P99999999999999999999D",
            "30 days",
            "PT1H2",
            "P1.5D",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn error_names_the_input() {
        let e = parse_duration("P1Y").unwrap_err();
        assert!(e.to_string().contains("P1Y"));
    }
}
