//! Following the other replicas' changes: a dedicated connection
//! `LISTEN`s on [`CHANGES_CHANNEL`] and rereads the control state at each
//! notification; a poll every [`PostgresOptions::poll_every`] catches a
//! lost notification and confirms the snapshot is current, which is what
//! keeps [`PostgresStore::control`] from turning into a fail-closed fault.
//!
//! [`PostgresOptions::poll_every`]: super::PostgresOptions::poll_every
//! [`PostgresStore::control`]: crate::storage::ControlRepository::control

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, NoTls};

use super::{redact, PostgresStore, Transport, CHANGES_CHANNEL};

impl PostgresStore {
    /// Starts the listener and the poll on the store's own runtime. They
    /// hold the store weakly and end when it is dropped.
    pub fn follow_changes(self: &Arc<Self>) {
        let handle = self.runtime().clone();
        handle.spawn(listen(Arc::downgrade(self)));
        handle.spawn(poll(Arc::downgrade(self)));
    }
}

/// Rereads the control state off the runtime's workers (the store's calls
/// block their thread).
async fn refresh(store: &Weak<PostgresStore>) -> bool {
    let Some(store) = store.upgrade() else {
        return false;
    };
    match tokio::task::spawn_blocking(move || store.refresh_control()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot confirm the control state"),
        Err(e) => tracing::error!(error = %e, "the control state refresh panicked"),
    }
    true
}

async fn poll(store: Weak<PostgresStore>) {
    let every = match store.upgrade() {
        Some(s) => s.options().poll_every,
        None => return,
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !refresh(&store).await {
            return;
        }
    }
}

async fn listen(store: Weak<PostgresStore>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some((url, transport)) = store
            .upgrade()
            .map(|s| (s.url().to_string(), s.transport().clone()))
        else {
            return;
        };
        let listened = match transport {
            Transport::Plain => match tokio_postgres::connect(&url, NoTls).await {
                Ok((client, connection)) => listen_on(&store, client, connection).await,
                Err(e) => Err(e),
            },
            Transport::Tls(tls) => match tokio_postgres::connect(&url, tls).await {
                Ok((client, connection)) => listen_on(&store, client, connection).await,
                Err(e) => Err(e),
            },
        };
        match listened {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(url = %redact(&url), error = %e, "lost the change notifications; reconnecting (the poll covers the gap)");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Listens on one connection until it fails (`Err`) or the store is gone.
async fn listen_on<S, T>(
    store: &Weak<PostgresStore>,
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
) -> Result<(), tokio_postgres::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel::<()>();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if notified.send(()).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
        .await?;
    // Changes committed before LISTEN took effect are not notified.
    if !refresh(store).await {
        return Ok(());
    }
    while notifications.recv().await.is_some() {
        // Many commits in a burst need one reread.
        while notifications.try_recv().is_ok() {}
        if !refresh(store).await {
            return Ok(());
        }
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
