//! Logs go to journald when systemd started us with its journal on stderr (JOURNAL_STREAM),
//! and to stderr otherwise. Nothing is logged per frame at info level.

pub fn init(level: log::LevelFilter) {
    log::set_max_level(level);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(logger) = systemd_journal_logger::JournalLog::new() {
            if logger
                .with_syslog_identifier("edge-infer".into())
                .install()
                .is_ok()
            {
                return;
            }
        }
    }
    let _ = log::set_boxed_logger(Box::new(Stderr));
}

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!(
                "edge-infer {}: {}",
                r.level().as_str().to_lowercase(),
                r.args()
            );
        }
    }

    fn flush(&self) {}
}
