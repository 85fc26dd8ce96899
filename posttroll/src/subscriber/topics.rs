//! Subscription topics.

use posttroll_core::message::MAGIC;

/// Puts the magic word `pytroll:/` in front of each topic that lacks it, as
/// the reference's `_magickfy_topics`: `/counter` → `pytroll://counter`,
/// `counter` → `pytroll://counter`, `""` → `pytroll://`, and
/// `pytroll:/...` is kept.
///
/// Topics are prefixes of the encoded frame, so a topic selects the
/// messages whose subject starts with it.
///
/// # Examples
///
/// ```
/// use posttroll::subscriber::magickfy_topics;
///
/// assert_eq!(
///     magickfy_topics(["/counter", "counter", "pytroll:/x", ""]),
///     ["pytroll://counter", "pytroll://counter", "pytroll:/x", "pytroll://"],
/// );
/// ```
pub fn magickfy_topics<I, S>(topics: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    topics
        .into_iter()
        .map(|t| magickfy_topic(t.as_ref()))
        .collect()
}

/// One topic of [`magickfy_topics`].
pub fn magickfy_topic(topic: &str) -> String {
    if topic.starts_with(MAGIC) {
        topic.to_owned()
    } else if topic.starts_with('/') {
        format!("{MAGIC}{topic}")
    } else {
        format!("{MAGIC}/{topic}")
    }
}
