//! The embedding example runs, and its output shows each step done.

#[allow(dead_code)]
#[path = "../../examples/embedded.rs"]
mod embedded;

#[tokio::test]
async fn the_embedding_example_issues_verifies_and_survives_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    embedded::run(dir.path(), 4, &mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    for step in [
        "seeded clients [\"reports\"] and service accounts [\"svc-reports\"]",
        "authenticated client reports",
        "issued a token: scope \"reports.read\"",
        "verified the token: sub svc-reports, client_id reports, permissions [\"reports.read\"]",
        "the new secret authenticates",
        "the previous secret still authenticates inside its grace window",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
}
