//! A user-level cut-off: disable, role change, password change and reset, signing out
//! everywhere and an administrator's "end all sessions" refuse every earlier token of the user,
//! whatever state its session is in (an expired session's access token lives until its `exp`).
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::{send, sign_in, sign_in_admin};
use crate::helpers::{PASSWORD, TestApp, problem, spawn_app_with};
use crate::outbox::s;

#[derive(Debug, Clone, Copy)]
enum Action {
    Disable,
    RoleChange,
    PasswordChange,
    PasswordReset,
    SignOutEverywhere,
    AdminEndsSessions,
}

async fn create_todo(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_bearer("/api/todos", token, &json!({"title": "still here?"}))
        .await
}

async fn act(app: &TestApp, action: Action, admin: &str, user_id: &str) {
    let admin_call =
        |method, path: String, body| async move { send(app, method, &path, admin, body).await };
    let status = match action {
        Action::Disable => admin_call(
            Method::POST,
            format!("/api/admin/users/{user_id}/disable"),
            None,
        )
        .await
        .status(),
        Action::RoleChange => {
            let roles = Some(json!({"roles": ["editor"]}));
            admin_call(
                Method::PUT,
                format!("/api/admin/users/{user_id}/roles"),
                roles,
            )
            .await
            .status()
        }
        Action::AdminEndsSessions => admin_call(
            Method::DELETE,
            format!("/api/admin/users/{user_id}/sessions"),
            None,
        )
        .await
        .status(),
        Action::PasswordChange | Action::SignOutEverywhere => {
            // From a new session: the old one is long expired.
            let fresh: Value = app
                .login("ada@example.com", PASSWORD)
                .await
                .json()
                .await
                .expect("json");
            let token = s(&fresh, "access_token");
            if let Action::PasswordChange = action {
                let body = json!({"current_password": PASSWORD,
                                  "new_password": "a brand new passphrase for ada"});
                app.post_bearer("/auth/password/change", &token, &body)
                    .await
                    .status()
            } else {
                app.post_bearer("/auth/logout", &token, &json!({"scope": "all"}))
                    .await
                    .status()
            }
        }
        Action::PasswordReset => {
            let link = app.reset_token_for("ada@example.com").await;
            let body = json!({"token": link, "new_password": "a brand new passphrase for ada"});
            app.post_json("/auth/password/reset", &body).await.status()
        }
    };
    assert!(status.is_success(), "{action:?}: {status}");
}

#[tokio::test]
async fn every_earlier_token_of_the_user_is_refused_whatever_state_its_session_is_in() {
    for action in [
        Action::Disable,
        Action::RoleChange,
        Action::PasswordChange,
        Action::PasswordReset,
        Action::SignOutEverywhere,
        Action::AdminEndsSessions,
    ] {
        let app = spawn_app_with(|s| s.refresh_idle_ttl_secs = 60).await;
        let admin = sign_in_admin(&app, "root@example.com").await;
        let ada = sign_in(&app, "ada@example.com").await;
        // Ada's session expires idle; ending it on refresh revokes nothing, so its access token
        // works until its `exp`.
        app.clock.advance(61);
        let (status, code, _) = problem(app.refresh(&ada.refresh).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "session_expired")
        );
        assert_eq!(
            create_todo(&app, &ada.access).await.status(),
            StatusCode::CREATED
        );

        act(&app, action, &admin.access, &ada.id).await;

        let (status, code, _) = problem(create_todo(&app, &ada.access).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token"),
            "{action:?}"
        );
        // And a restart does not bring it back.
        let app = app.restart().await;
        let (status, code, _) = problem(create_todo(&app, &ada.access).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token"),
            "{action:?} after a restart"
        );
    }
}
