//! One address grammar: NFC, no invisible or control characters, nothing unmailable; and the
//! one-time normalisation of addresses stored by earlier versions, which never merges two.
use reqwest::StatusCode;
use serde_json::json;

use crate::cli::{jwtgate, text};
use crate::helpers::{PASSWORD, problem, spawn_app};

#[tokio::test]
async fn one_address_however_its_accents_are_typed_and_no_invisible_twins() {
    let app = spawn_app().await;
    let composed = "jos\u{e9}@example.com";
    let decomposed = "jose\u{301}@example.com";
    assert_eq!(app.register(decomposed).await.status(), StatusCode::CREATED);
    let (status, code, _) = problem(app.register(composed).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "email_taken")
    );
    // Either spelling signs in to the one account, and shares its failure counter.
    assert_eq!(app.login(composed, PASSWORD).await.status(), StatusCode::OK);
    for _ in 0..5 {
        app.login(decomposed, "not the password at all").await;
    }
    let (status, code, _) = problem(app.login(composed, PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
    );

    for refused in [
        "ada\u{200b}@example.com",
        "a\u{200d}da@example.com",
        "\u{202e}moc.elpmaxe@ada",
        "ada\u{2066}@example.com",
        "a..b@example.com",
        "ada.@example.com",
        "\"ada\"@example.com",
        "ada\u{7f}@example.com",
    ] {
        let response = app
            .post_json(
                "/auth/register",
                &json!({"email": refused, "password": PASSWORD}),
            )
            .await;
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email"),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn addresses_stored_by_an_earlier_version_are_normalised_and_collisions_left_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().display().to_string();
    let migrate = || jwtgate(&["migrate", "--data-dir", &dir], &[], "");
    assert!(migrate().status.success());
    // What an earlier version could store: two spellings of one address, one NFD-only
    // address, and an unmailable one. (It ran before this version's one-time step.)
    let open = || async {
        let path = std::path::Path::new(&dir).join(jwtgate::startup::DATABASE_FILE);
        jwtgate::store::Store::open_sqlite(&path, 1)
            .await
            .expect("store")
    };
    let store = open().await;
    for (id, email) in [
        ("u1", "jos\u{e9}@example.com"),
        ("u2", "jose\u{301}@example.com"),
        ("u3", "rene\u{301}@example.com"),
        ("u4", "a..b@example.com"),
    ] {
        let row = jwtgate::store::UserRow {
            id: id.into(),
            email: email.into(),
            password_hash: "x".into(),
            roles: Vec::new(),
            plan: None,
            created_at: 1,
            email_verified: false,
        };
        store.insert_user(&row).await.expect("insert");
    }
    store
        .test_sql("DELETE FROM data_steps")
        .await
        .expect("reset");
    store.close().await;

    let out = migrate();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert!(
        log.contains("two accounts share one address") && log.contains("u2"),
        "{log}"
    );
    assert!(
        log.contains("not a valid address") && log.contains("u4"),
        "{log}"
    );

    let store = open().await;
    let rows = store.user_emails().await.expect("rows");
    store.close().await;
    let mut rows = rows;
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("u1".to_owned(), "jos\u{e9}@example.com".to_owned()),
            ("u2".to_owned(), "jose\u{301}@example.com".to_owned()),
            ("u3".to_owned(), "ren\u{e9}@example.com".to_owned()),
            ("u4".to_owned(), "a..b@example.com".to_owned()),
        ]
    );
    // Once per database: the next start leaves everything as it is, and says nothing.
    let again = migrate();
    assert!(!text(&again.stderr).contains("share one address"));
}
