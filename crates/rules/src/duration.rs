//! Durations as written in rules files: an integer and a unit, `500ms`,
//! `30s`, `5m`, `2h`, `7d`.

/// Nanoseconds of a duration such as `60s`.
///
/// # Errors
/// A message naming what is wrong.
pub fn parse_nanos(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} has no unit (ms, s, m, h or d)"))?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a whole number"))?;
    let scale: i64 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => {
            return Err(format!(
                "duration {s:?}: unit {unit:?} is not ms, s, m, h or d"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

/// A duration for people: `90s`, `5m`, `2h` (the largest exact unit).
pub fn display(nanos: i64) -> String {
    for (scale, unit) in [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ] {
        if nanos != 0 && nanos % scale == 0 {
            return format!("{}{unit}", nanos / scale);
        }
    }
    format!("{}ms", nanos / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_nanos("60s"), Ok(60_000_000_000));
        assert_eq!(parse_nanos("5m"), Ok(300_000_000_000));
        assert_eq!(parse_nanos("250ms"), Ok(250_000_000));
        assert_eq!(parse_nanos("1d"), Ok(86_400_000_000_000));
        assert!(parse_nanos("60").unwrap_err().contains("no unit"));
        assert!(parse_nanos("5 weeks").unwrap_err().contains("unit"));
        assert!(parse_nanos("m").is_err());
        assert!(parse_nanos("99999999999999d")
            .unwrap_err()
            .contains("too long"));
        assert_eq!(display(90_000_000_000), "90s");
        assert_eq!(display(7_200_000_000_000), "2h");
    }
}
