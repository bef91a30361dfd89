//! RFC 3339 timestamps without a clock: parsing, validation and UTC
//! formatting with nanoseconds. The current time is always passed in.

use core::fmt;

/// An instant as seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z (may be negative).
    pub secs: i64,
    /// Nanoseconds, 0..1_000_000_000.
    pub nanos: u32,
}

/// Why a timestamp did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time (e.g. 2026-11-26T07:52:01.5Z): {0}")]
pub struct TimeError(pub &'static str);

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's days_from_civil: proleptic Gregorian to days since epoch.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn num(b: &[u8], what: &'static str) -> Result<u32, TimeError> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return Err(TimeError(what));
    }
    Ok(b.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0')))
}

impl Timestamp {
    /// From nanoseconds since the epoch.
    pub fn from_unix_nanos(n: i128) -> Timestamp {
        Timestamp {
            secs: n.div_euclid(1_000_000_000) as i64,
            nanos: n.rem_euclid(1_000_000_000) as u32,
        }
    }

    /// Nanoseconds since the epoch.
    pub fn unix_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// Parses an RFC 3339 `date-time` (§5.6): `T` or `t` separator, optional
    /// fraction (up to 9 digits kept exactly), `Z` or `±hh:mm` offset. A leap
    /// second (`:60`) is accepted and folded into the next second.
    ///
    /// # Errors
    /// [`TimeError`] naming the part that is wrong.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimeError> {
        let b = s.as_bytes();
        if b.len() < 20 || b.len() > 40 {
            return Err(TimeError("wrong length"));
        }
        if b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(TimeError("expected YYYY-MM-DDTHH:MM:SS"));
        }
        let year = num(&b[0..4], "year")?;
        let month = num(&b[5..7], "month")?;
        let day = num(&b[8..10], "day")?;
        let hour = num(&b[11..13], "hour")?;
        let min = num(&b[14..16], "minute")?;
        let sec = num(&b[17..19], "second")?;
        if !(1..=12).contains(&month) {
            return Err(TimeError("month out of range"));
        }
        let mdays = [
            31,
            if is_leap(i64::from(year)) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if day == 0 || day > mdays[month as usize - 1] {
            return Err(TimeError("day out of range"));
        }
        if hour > 23 || min > 59 || sec > 60 {
            return Err(TimeError("time of day out of range"));
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &b[start..i];
            if frac.is_empty() {
                return Err(TimeError("empty fraction"));
            }
            if frac.len() > 9 {
                return Err(TimeError("more than 9 fractional digits"));
            }
            nanos = num(frac, "fraction")? * 10u32.pow(9 - frac.len() as u32);
        }
        let offset_secs: i64 = match &b[i..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let oh = num(&[*h1, *h2], "offset hour")?;
                let om = num(&[*m1, *m2], "offset minute")?;
                if oh > 23 || om > 59 {
                    return Err(TimeError("offset out of range"));
                }
                let o = i64::from(oh * 3600 + om * 60);
                if *sign == b'-' {
                    -o
                } else {
                    o
                }
            }
            _ => return Err(TimeError("expected Z or ±hh:mm offset")),
        };
        let days = days_from_civil(i64::from(year), month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset_secs;
        Ok(Timestamp { secs, nanos })
    }

    /// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, always nine fractional digits,
    /// so that the text sorts like the time).
    pub fn to_rfc3339_nanos(&self) -> String {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            self.nanos
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let t = Timestamp::parse_rfc3339("2026-11-26T07:52:01.5+01:00").unwrap();
        assert_eq!(t.to_rfc3339_nanos(), "2026-11-26T06:52:01.500000000Z");
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:00Z").unwrap(),
            Timestamp::default()
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2000-02-29T23:59:60Z")
                .unwrap()
                .to_rfc3339_nanos(),
            "2000-03-01T00:00:00.000000000Z"
        );
        for n in [-86_400_000_000_123i128, 0, 1_795_000_000_123_456_789] {
            let t = Timestamp::from_unix_nanos(n);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339_nanos()).unwrap(), t);
        }
    }

    #[test]
    fn rejects_invalid() {
        for s in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-26 07:52:01Z",
            "2026-11-26T07:52:01",
            "2026-11-26T24:00:00Z",
            "2026-11-26T07:52:01.Z",
            "2026-11-26T07:52:01.1234567890Z",
            "2026-11-26T07:52:01+0100",
        ] {
            assert!(Timestamp::parse_rfc3339(s).is_err(), "{s}");
        }
    }
}
