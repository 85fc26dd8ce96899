//! How often a repeated event is logged: a peer that misbehaves in a loop
//! must not flood the log.

/// True for the occurrences of a repeated event worth a log line: the
/// first, then every thousandth (`count` counts from 1).
///
/// # Examples
///
/// ```
/// use posttroll_core::log_sampling::first_and_every_thousandth;
///
/// let logged: Vec<u64> = (1..=3000).filter(|n| first_and_every_thousandth(*n)).collect();
/// assert_eq!(logged, [1, 1000, 2000, 3000]);
/// ```
pub fn first_and_every_thousandth(count: u64) -> bool {
    count == 1 || count.is_multiple_of(1000)
}

/// [`first_and_every_thousandth`], counting each occurrence it does not log
/// in `posttroll_log_lines_suppressed_total{event}` (see
/// [`metrics`](crate::metrics); `event` is one of
/// [`metrics::events`](crate::metrics::events)).
///
/// # Examples
///
/// ```
/// use posttroll_core::log_sampling::sample;
/// use posttroll_core::metrics::events::TABLE_FULL;
///
/// assert!(sample(1, TABLE_FULL));
/// assert!(!sample(2, TABLE_FULL)); // not logged, counted as suppressed
/// ```
pub fn sample(count: u64, event: &'static str) -> bool {
    let logged = first_and_every_thousandth(count);
    if !logged {
        crate::metrics::log_line_suppressed(event);
    }
    logged
}
