//! Concurrent writes to one package: distinct versions and their tags are all kept, and a race to publish the
//! same version has exactly one winner whose bytes match the metadata.

use crate::support::*;
use serde_json::Value;
use std::sync::{Arc, Barrier};

#[test]
fn twelve_parallel_publishes_of_distinct_versions_all_land() {
    let reg = Arc::new(Registry::start());
    let barrier = Arc::new(Barrier::new(12));
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let (reg, barrier) = (reg.clone(), barrier.clone());
            std::thread::spawn(move || {
                let version = format!("1.{i}.0");
                let tgz = fake_tgz(&version);
                // Each publish sets its own tag too, so a lost tag update would show.
                let mut body = publish_body("@acme/busy", &version, &tgz, "latest");
                body["dist-tags"][format!("t{i}")] = serde_json::json!(version);
                barrier.wait();
                let r = reg.put_json("/@acme%2fbusy", &body);
                assert_eq!(r.status, 201, "{version}: {}", r.text());
                (version, tgz)
            })
        })
        .collect();
    let published: Vec<(String, Vec<u8>)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    let doc = reg.get("/@acme%2fbusy").json();
    let versions = doc["versions"].as_object().unwrap();
    assert_eq!(versions.len(), 12, "{doc}");
    let tags = doc["dist-tags"].as_object().unwrap();
    assert_eq!(tags.len(), 13, "latest plus one tag per publish: {tags:?}");
    for i in 0..12 {
        assert_eq!(tags[&format!("t{i}")], format!("1.{i}.0"));
    }
    assert!(versions.contains_key(tags["latest"].as_str().unwrap()));
    for (version, tgz) in &published {
        assert_eq!(versions[version]["dist"]["integrity"], integrity(tgz));
        assert_eq!(
            &reg.get(&format!("/@acme/busy/-/busy-{version}.tgz")).body,
            tgz
        );
    }
}

#[test]
fn racing_publishes_of_one_version_have_exactly_one_winner() {
    let reg = Arc::new(Registry::start());
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (reg, barrier) = (reg.clone(), barrier.clone());
            std::thread::spawn(move || {
                let tgz = fake_tgz(&format!("contender {i}"));
                let body = publish_body("racer", "1.0.0", &tgz, "latest");
                barrier.wait();
                (reg.put_json("/racer", &body).status, tgz)
            })
        })
        .collect();
    let results: Vec<(u16, Vec<u8>)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let winners: Vec<&Vec<u8>> = results
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "statuses: {:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert!(results.iter().all(|(s, _)| *s == 201 || *s == 409));
    let doc: Value = reg.get("/racer").json();
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["integrity"],
        integrity(winners[0])
    );
    assert_eq!(&reg.get("/racer/-/racer-1.0.0.tgz").body, winners[0]);
    let files = reg
        .snapshot()
        .into_keys()
        .filter(|k| k.starts_with("file "))
        .count();
    assert_eq!(files, 1, "losers left no tarball behind");
}

#[test]
fn racing_publishes_of_names_differing_only_in_case_have_one_winner() {
    let reg = Arc::new(Registry::start());
    // Two spellings per round, each published by its own thread at once; the package lock is
    // per spelling, so only the database transaction can keep both from landing.
    for round in 0..6 {
        let names = [format!("Racer{round}"), format!("racer{round}")];
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = names
            .iter()
            .map(|name| {
                let (reg, barrier, name) = (reg.clone(), barrier.clone(), name.clone());
                std::thread::spawn(move || {
                    let tgz = fake_tgz(&name);
                    let body = publish_body(&name, "1.0.0", &tgz, "latest");
                    barrier.wait();
                    let r = reg.put_json(&format!("/{name}"), &body);
                    (r.status, r.text())
                })
            })
            .collect();
        let mut answers: Vec<(u16, String)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        answers.sort();
        assert_eq!(answers[0].0, 201, "{answers:?}");
        assert_eq!(answers[1].0, 409, "{answers:?}");
        assert!(answers[1].1.contains("differs only in case"), "{answers:?}");
        let found = names
            .iter()
            .filter(|n| reg.get(&format!("/{n}")).status == 200);
        assert_eq!(found.count(), 1, "round {round}");
    }
}
