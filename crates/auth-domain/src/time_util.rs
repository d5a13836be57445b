//! Instants in this crate carry millisecond precision (see docs/reference/secret-lifecycle.md), so that
//! what is stored, compared and shown is the same value.

use time::OffsetDateTime;

/// Drops everything below the millisecond and moves the instant to UTC.
pub fn truncate_ms(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000_000).unwrap_or(t)
}

/// The current instant at millisecond precision.
pub fn now_ms() -> OffsetDateTime {
    truncate_ms(OffsetDateTime::now_utc())
}

/// Milliseconds since the Unix epoch; the storage representation.
pub fn to_epoch_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The inverse of [`to_epoch_ms`]; values outside time's range saturate.
pub fn from_epoch_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_ms_round_trips_at_millisecond_precision() {
        let t = truncate_ms(OffsetDateTime::now_utc());
        assert_eq!(from_epoch_ms(to_epoch_ms(t)), t);
        assert_eq!(t.nanosecond() % 1_000_000, 0);
    }
}
