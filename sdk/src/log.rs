//! The plugin's log: the only host function a plugin may call.
//!
//! Lines go to the host's log tagged with the plugin's name and version. The
//! host truncates long lines and caps the lines per evaluation, so logging
//! cannot be used to flood the host. In native builds (unit tests) lines go
//! to stderr.

/// Writes a line at debug level.
pub fn debug(message: &str) {
    write(Level::Debug, message)
}

/// Writes a line at info level.
pub fn info(message: &str) {
    write(Level::Info, message)
}

/// Writes a line at warn level.
pub fn warn(message: &str) {
    write(Level::Warn, message)
}

/// Writes a line at error level.
pub fn error(message: &str) {
    write(Level::Error, message)
}

enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[cfg(target_arch = "wasm32")]
fn write(level: Level, message: &str) {
    // Every world imports the same `regent:policy/log` interface; the
    // checklist world's binding serves them all.
    use crate::checklist::bindings::regent::policy::log as host;
    let level = match level {
        Level::Debug => host::Level::Debug,
        Level::Info => host::Level::Info,
        Level::Warn => host::Level::Warn,
        Level::Error => host::Level::Error,
    };
    host::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
fn write(level: Level, message: &str) {
    let level = match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    };
    eprintln!("[plugin {level}] {message}");
}
