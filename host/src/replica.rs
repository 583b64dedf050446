//! This process's identity among the replicas sharing one database.

use std::sync::OnceLock;

/// Unique per process, chosen once: `<hostname>-<pid>-<8 random hex>`.
/// The hostname and pid tell an operator where to look; the random part
/// keeps two processes apart when a pid is reused (a container restarted
/// under the same hostname).
pub fn replica_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = hostname();
        let mut random = [0u8; 4];
        // Without the OS's randomness the pid still tells processes apart
        // on one host; the id is a label, not a secret.
        if let Err(e) = getrandom::fill(&mut random) {
            tracing::warn!(error = %e, "no randomness for the replica id; using host and pid only");
        }
        format!("{host}-{}-{}", std::process::id(), hex::encode(random))
    })
}

/// This machine's name, as the kernel has it (else `HOSTNAME`, else
/// `regent`): part of the replica id, and where it says it serves when it
/// listens on every address.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "regent".into())
}

#[cfg(test)]
mod tests {
    use super::replica_id;

    #[test]
    fn the_id_is_chosen_once_and_names_the_process() {
        let id = replica_id();
        assert_eq!(id, replica_id());
        assert!(id.contains(&format!("-{}-", std::process::id())), "{id}");
    }
}
