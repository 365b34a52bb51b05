//! Log line format: env_logger's text (default) or one JSON object per line
//! (`log_format = "json"`), switched at run time once the configuration is
//! read; lines before that are text.

use std::{
    io::Write as _,
    sync::atomic::{AtomicBool, Ordering},
};

static JSON: AtomicBool = AtomicBool::new(false);

/// `log_format`: "text" or "json".
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// One JSON log line: `{"ts":…,"level":…,"msg":…}` (the message escaped by
/// serde_json, so a line stays a line whatever it carries).
pub fn json_line(ts: &str, level: log::Level, msg: &str) -> String {
    serde_json::json!({ "ts": ts, "level": level.as_str().to_lowercase(), "msg": msg }).to_string()
}

/// Install the process logger (`RUST_LOG`, default info).
pub fn init() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .format(|buf, record| {
            let ts = buf.timestamp();
            if JSON.load(Ordering::Relaxed) {
                writeln!(
                    buf,
                    "{}",
                    json_line(&ts.to_string(), record.level(), &record.args().to_string())
                )
            } else {
                writeln!(buf, "[{ts} {:<5}] {}", record.level(), record.args())
            }
        })
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_one_line_and_parse() {
        let l = json_line(
            "2026-12-03T10:00:00Z",
            log::Level::Warn,
            "peer said \"hi\"\nbye",
        );
        assert!(!l.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["msg"], "peer said \"hi\"\nbye");
    }
}
