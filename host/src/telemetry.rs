//! Logging to stderr. `RUST_LOG` (a full filter) wins; otherwise the level
//! from `LOG_LEVEL` or the config file; otherwise `info`.

pub fn init(level: Option<&str>) {
    let level = level.unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::try_new(format!("{level},wasmtime=warn,cranelift=warn"))
            .unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
            })
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
