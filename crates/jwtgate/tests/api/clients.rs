//! The OAuth client registry (issue 15): the store on both backends, the rules as the domain
//! and the admin API apply them, the secret shown once, and the admin API's guard, answers and
//! audit trail.

use jwtgate::store::NewClientRow;

use crate::helpers::spawn_app;

fn row<'a>(
    id: &'a str,
    kind: &'a str,
    hash: Option<&'a [u8]>,
    uris: &'a [String],
) -> NewClientRow<'a> {
    NewClientRow {
        id,
        name: "Orders",
        kind,
        secret_sha256: hash,
        redirect_uris: uris,
        grants: &[],
        first_party: true,
        created_at: 1_700_000_000,
    }
}

#[tokio::test]
async fn the_store_keeps_clients_as_given_in_the_order_they_were_made_and_removes_them_once() {
    let app = spawn_app().await;
    let store = app.store();
    let uris = vec![
        "https://Orders.example.com/cb?x=1".to_owned(),
        "http://127.0.0.1:8000/cb".to_owned(),
    ];
    store
        .add_client(&row("c1", "confidential", Some(&[7; 32]), &uris))
        .await
        .expect("add");
    store
        .add_client(&row("a2", "public", None, &[]))
        .await
        .expect("add");

    let listed = store.clients().await.expect("list");
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c1", "a2"]
    );
    let one = store.client("c1").await.expect("read").expect("there");
    assert_eq!(one.redirect_uris, uris, "kept exactly as given");
    assert!(one.first_party);
    assert_eq!(one.kind, "confidential");
    assert_eq!(store.client("nope").await.expect("read"), None);

    assert!(store.remove_client("c1").await.expect("remove"));
    assert!(!store.remove_client("c1").await.expect("remove again"));
    assert_eq!(store.clients().await.expect("list").len(), 1);
}

#[tokio::test]
async fn the_database_refuses_a_public_client_with_a_secret_and_a_confidential_one_without() {
    let app = spawn_app().await;
    let store = app.store();
    assert!(
        store
            .add_client(&row("p", "public", Some(&[1; 32]), &[]))
            .await
            .is_err()
    );
    assert!(
        store
            .add_client(&row("c", "confidential", None, &[]))
            .await
            .is_err()
    );
    assert!(
        store
            .add_client(&row("k", "kiosk", None, &[]))
            .await
            .is_err()
    );
    assert!(store.clients().await.expect("list").is_empty());
}
