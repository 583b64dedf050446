//! Background work on one replica at a time: the breaker checks run under
//! a lease, and `kill -9` of its holder hands them to another replica
//! within the bound, with never two replicas checking at once.

use std::time::{Duration, Instant};

use regent_tests::cluster::{Cluster, ClusterSpec, FAST_CLUSTER};

/// `FAST_CLUSTER`'s lease: a dead holder's work is taken over within it.
const LEASE_TTL: Duration = Duration::from_millis(2_000);
/// Its heartbeat: how often a replica tries to take a free lease.
const HEARTBEAT: Duration = Duration::from_millis(200);

/// What one replica's `/metrics` says of the breaker-check lease: whether
/// it holds it, and how many checks it has started under it. `None` when
/// the replica does not answer.
async fn breaker_lease(cluster: &Cluster, i: usize) -> Option<(bool, u64)> {
    let text = cluster
        .client
        .get(format!("{}/metrics", cluster.base(i)))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |metric: &str| {
        let prefix = format!("{metric}{{lease=\"breaker-checks\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().parse::<f64>().unwrap() as u64)
    };
    Some((
        value("regent_lease_held").unwrap_or(0) == 1,
        value("regent_lease_runs_total").unwrap_or(0),
    ))
}

/// Every listed replica's view that answers, one after the other (each a
/// loopback scrape of a few ms).
async fn sample(cluster: &Cluster, replicas: &[usize]) -> Vec<(usize, bool, u64)> {
    let mut views = Vec::with_capacity(replicas.len());
    for &i in replicas {
        if let Some((held, runs)) = breaker_lease(cluster, i).await {
            views.push((i, held, runs));
        }
    }
    views
}

/// What `GET /api/replicas` on replica `i` says: the id of the replica
/// that answered, and the one that holds the breaker-check lease (listed
/// with it, and as the lease's current holder).
async fn listed_holder(cluster: &Cluster, i: usize) -> (String, String) {
    let (status, body) = cluster.get(i, "/api/replicas").await;
    assert!(status.is_success(), "{status}: {body}");
    let lease = body["leases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "breaker-checks")
        .unwrap_or_else(|| panic!("no breaker-checks lease listed: {body}"));
    assert_eq!(lease["held"], true, "{body}");
    let holder = lease["holder"].as_str().unwrap().to_string();
    let listing: Vec<&str> = body["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["leases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l == "breaker-checks")
        })
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listing,
        [holder.as_str()],
        "one live replica holds it: {body}"
    );
    (body["thisReplica"].as_str().unwrap().to_string(), holder)
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_lease_holder_hands_the_breaker_checks_to_another_replica() {
    let mut cluster = Cluster::start_with(ClusterSpec {
        replicas: 3,
        // A check every 100 ms, so a gap or a doubled check shows at once.
        config: format!("circuit_breaker_check_interval = 100\n{FAST_CLUSTER}"),
        ..ClusterSpec::default()
    })
    .await;
    let all = [0, 1, 2];

    // One replica takes the lease; only it checks, for as long as it lives.
    let until = Instant::now() + Duration::from_secs(10);
    let holder = loop {
        let views = sample(&cluster, &all).await;
        let holders: Vec<usize> = views.iter().filter(|v| v.1).map(|v| v.0).collect();
        assert!(holders.len() <= 1, "two holders at once: {views:?}");
        if let [h] = holders[..] {
            break h;
        }
        assert!(
            Instant::now() < until,
            "nobody took the lease: {views:?}\n{}",
            cluster.replicas[0].log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (holder_id, listed) = listed_holder(&cluster, holder).await;
    assert_eq!(
        listed, holder_id,
        "the replica that runs the checks is listed"
    );
    let before = sample(&cluster, &all).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after = sample(&cluster, &all).await;
    assert_eq!((before.len(), after.len()), (3, 3), "{before:?} {after:?}");
    for ((i, held, runs), (_, held_after, runs_after)) in before.iter().zip(&after) {
        if *i == holder {
            assert!(*held && *held_after, "{before:?} {after:?}");
            assert!(
                runs_after - runs >= 5,
                "the holder checks every 100 ms: {before:?} then {after:?}"
            );
        } else {
            assert!(!held && !held_after, "{before:?} {after:?}");
            assert_eq!((*runs, *runs_after), (0, 0), "only the holder checks");
        }
    }

    // kill -9 of the holder: another replica takes the checks over within
    // the lease's ttl (plus one try), and only one of them does.
    cluster.kill(holder);
    let killed = Instant::now();
    let survivors: Vec<usize> = all.into_iter().filter(|&i| i != holder).collect();
    let (heir, taken_after) = loop {
        let views = sample(&cluster, &survivors).await;
        let holders: Vec<_> = views.iter().filter(|v| v.1 && v.2 > 0).collect();
        assert!(holders.len() <= 1, "two heirs at once: {views:?}");
        if let [h] = holders[..] {
            break (h.0, killed.elapsed());
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "nobody took the checks over: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Scraping takes a little, on a loaded machine more.
    assert!(
        taken_after <= LEASE_TTL + HEARTBEAT + Duration::from_millis(500),
        "the checks were taken over after {taken_after:?}"
    );
    let (heir_id, listed) = listed_holder(&cluster, heir).await;
    assert_eq!(listed, heir_id);
    assert_ne!(heir_id, holder_id);

    let before = sample(&cluster, &survivors).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let after = sample(&cluster, &survivors).await;
    assert_eq!((before.len(), after.len()), (2, 2), "{before:?} {after:?}");
    for ((i, _, runs), (_, held_after, runs_after)) in before.iter().zip(&after) {
        if *i == heir {
            assert!(*held_after);
            assert!(runs_after - runs >= 3, "{before:?} then {after:?}");
        } else {
            assert!(!held_after);
            assert_eq!((*runs, *runs_after), (0, 0), "only the heir checks");
        }
    }
    eprintln!("breaker checks taken over {taken_after:?} after kill -9 of their holder");
}
