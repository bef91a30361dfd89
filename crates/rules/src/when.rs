//! Time-of-day and weekday windows: `during = { hours = "22:00-06:00",
//! weekdays = ["sat", "sun"] }` holds for an instant inside the hours on
//! one of the days; `outside = { hours = "08:00-18:00", weekdays = ["mon",
//! "tue", "wed", "thu", "fri"] }` for an instant that is not (working hours
//! as the rule's author defines them). Hours wrap past midnight when the
//! end is before the start. `utc_offset` ("+02:00") places the clock; UTC
//! otherwise.

const MINUTE: i128 = 60_000_000_000;
const DAY_MINUTES: i128 = 1440;

/// Days of the week as written, Sunday first.
pub const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A window of time-of-day and weekdays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Minutes after midnight `[start, end)`; wraps when `end <= start`.
    pub hours: Option<(u16, u16)>,
    /// Bit `d` for weekday `d` (0 = Sunday); `None` for every day.
    pub weekdays: Option<u8>,
    /// Minutes east of UTC.
    pub offset_minutes: i32,
}

impl Window {
    /// Whether the instant `unix_nanos` is inside. (For a window that
    /// wraps past midnight, the weekday is the day the instant falls on.)
    pub fn contains(&self, unix_nanos: i128) -> bool {
        // 1970-01-01 was a Thursday (4). Nanoseconds fit 64 bits until
        // 2262, minutes always (RFC 3339 stops at year 9999), and 128-bit
        // division is a library call (this runs per event and rule).
        let minutes = match i64::try_from(unix_nanos) {
            Ok(n) => n.div_euclid(MINUTE as i64),
            // Beyond any RFC 3339 time: saturated, on the right side.
            Err(_) => i64::try_from(unix_nanos.div_euclid(MINUTE)).unwrap_or(if unix_nanos < 0 {
                i64::MIN / 2
            } else {
                i64::MAX / 2
            }),
        };
        let local = minutes + i64::from(self.offset_minutes);
        let days = DAY_MINUTES as i64;
        let minute = local.rem_euclid(days) as u16;
        let weekday = (local.div_euclid(days) + 4).rem_euclid(7) as u8;
        let in_hours = match self.hours {
            None => true,
            Some((s, e)) if s < e => minute >= s && minute < e,
            Some((s, e)) => minute >= s || minute < e,
        };
        let on_day = self.weekdays.is_none_or(|m| m & (1 << weekday) != 0);
        in_hours && on_day
    }
}

/// `HH:MM-HH:MM` as minutes after midnight.
///
/// # Errors
/// A message naming what is wrong.
pub fn parse_hours(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("hours {s:?} are not HH:MM-HH:MM (24-hour clock, e.g. \"22:00-06:00\")");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let hm = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
    };
    let (start, end) = (hm(a).ok_or_else(bad)?, hm(b).ok_or_else(bad)?);
    if start == end {
        return Err(format!("hours {s:?} start and end at the same time"));
    }
    Ok((start % 1440, end % 1440))
}

/// Weekday names (`mon`, `Tuesday`, …) as a bit set.
///
/// # Errors
/// The first name that is not a weekday.
pub fn parse_weekdays(names: &[String]) -> Result<u8, String> {
    let mut m = 0u8;
    for n in names {
        let short: String = n.to_ascii_lowercase().chars().take(3).collect();
        let d = WEEKDAYS
            .iter()
            .position(|w| *w == short && n.len() >= 3)
            .ok_or_else(|| format!("{n:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"))?;
        m |= 1 << d;
    }
    Ok(m)
}

/// `+HH:MM` / `-HH:MM` / `Z` as minutes east of UTC.
///
/// # Errors
/// A message naming what is wrong.
pub fn parse_offset(s: &str) -> Result<i32, String> {
    if s == "Z" || s == "UTC" {
        return Ok(0);
    }
    let bad = || format!("utc_offset {s:?} is not +HH:MM or -HH:MM");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m >= 60 {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::Timestamp;

    fn at(s: &str) -> i128 {
        Timestamp::parse_rfc3339(s).unwrap().unix_nanos()
    }

    #[test]
    fn windows() {
        let night = Window {
            hours: Some(parse_hours("22:00-06:00").unwrap()),
            weekdays: None,
            offset_minutes: 0,
        };
        assert!(night.contains(at("2026-12-02T23:59:59Z")));
        assert!(
            night.contains(at("2026-12-02T22:00:00Z")),
            "start is inside"
        );
        assert!(night.contains(at("2026-12-03T05:59:59.999Z")));
        assert!(
            !night.contains(at("2026-12-03T06:00:00Z")),
            "end is outside"
        );
        assert!(!night.contains(at("2026-12-02T12:00:00Z")));
        let work = Window {
            hours: Some(parse_hours("08:00-18:00").unwrap()),
            weekdays: Some(
                parse_weekdays(&[
                    "mon".into(),
                    "Tuesday".into(),
                    "wed".into(),
                    "thu".into(),
                    "fri".into(),
                ])
                .unwrap(),
            ),
            offset_minutes: parse_offset("+01:00").unwrap(),
        };
        // 2026-12-02 is a Wednesday; 07:30Z is 08:30 at +01:00.
        assert!(work.contains(at("2026-12-02T07:30:00Z")));
        assert!(!work.contains(at("2026-12-02T06:59:00Z")), "07:59 local");
        // 2026-12-05 is a Saturday.
        assert!(!work.contains(at("2026-12-05T10:00:00Z")));
        // Friday 23:30Z is Saturday 00:30 local.
        let sat = Window {
            hours: None,
            weekdays: Some(1 << 6),
            offset_minutes: 60,
        };
        assert!(sat.contains(at("2026-12-04T23:30:00Z")));
        assert!(!sat.contains(at("2026-12-04T22:30:00Z")));
        assert!(parse_hours("8-18").is_err());
        assert!(parse_hours("25:00-01:00").is_err());
        assert!(parse_hours("10:00-10:00").is_err());
        assert_eq!(parse_hours("18:00-24:00"), Ok((1080, 0)));
        assert!(parse_weekdays(&["funday".into()])
            .unwrap_err()
            .contains("funday"));
        assert!(parse_offset("0100").is_err());
        assert_eq!(parse_offset("-05:30"), Ok(-330));
    }
}
