//! This process's identity among the replicas sharing one database.

use std::sync::OnceLock;

/// Chosen once per process: `hostname-pid-random`, so two processes (on one
/// machine or after a restart with the same pid) never share an identity.
pub fn replica_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let mut nonce = [0u8; 4];
        if getrandom::fill(&mut nonce).is_err() {
            // The start time still tells two processes with one pid apart.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            nonce = nanos.to_le_bytes();
        }
        format!("{host}-{}-{}", std::process::id(), hex::encode(nonce))
    })
}
