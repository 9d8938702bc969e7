//! Human durations (`30m`, `1h`) as they appear in config, annotations and the API.

use std::time::Duration;

/// Parses `30s`, `5m`, `1h30m` and the like.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); write it like `30s`, `5m` or `1h`"))
}

/// Formats a duration the way [`parse`] reads it.
pub fn format(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
