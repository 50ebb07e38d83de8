//! Reading mail in tests: the development outbox (`<data_dir>/outbox/*.eml`) or any directory
//! of `.eml` files (the SMTP sink). Delivery runs in the background, so readers first wait for
//! the app's background work to end.

use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Every message in `dir` (sorted by name, so in arrival order within a second).
pub fn messages_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// The message in `dir` to `to` whose text contains `needle`, once `app` has no mail left in
/// flight (delivery runs in the background: this waits for it to end, never for a time).
pub async fn wait_for(app: &TestApp, dir: &Path, to: &str, needle: &str) -> String {
    app.handle.idle().await;
    messages_in(dir)
        .into_iter()
        .find(|m| m.contains(&format!("To: {to}")) && m.contains(needle))
        .unwrap_or_else(|| panic!("no mail to {to} containing {needle:?} in {}", dir.display()))
}

/// The `token` query parameter of the first link to `page` in `message`.
pub fn token_in(message: &str, page: &str) -> String {
    let marker = format!("/#/{page}?token=");
    let start = message.find(&marker).expect("link in the mail") + marker.len();
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

impl TestApp {
    pub fn outbox(&self) -> std::path::PathBuf {
        self.data_dir.join("outbox")
    }

    /// The newest reset link's token mailed to `email` (after `/auth/password/forgot`).
    pub async fn reset_token_for(&self, email: &str) -> String {
        let before: std::collections::HashSet<String> =
            messages_in(&self.outbox()).into_iter().collect();
        let response = self
            .post_json("/auth/password/forgot", &json!({"email": email}))
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
        self.handle.idle().await;
        let all = messages_in(&self.outbox());
        let mail = all
            .iter()
            .find(|m| !before.contains(*m) && m.contains("reset-password?token="))
            .unwrap_or_else(|| panic!("no reset mail for {email}"));
        token_in(mail, "reset-password")
    }

    /// The verification token mailed to `email` at registration.
    pub async fn verify_token_for(&self, email: &str) -> String {
        let m = wait_for(self, &self.outbox(), email, "verify-email?token=").await;
        token_in(&m, "verify-email")
    }

    pub async fn post_bearer(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Logs in with a given User-Agent; returns the token response.
    pub async fn login_as(&self, email: &str, user_agent: &str) -> Value {
        let response = self
            .client
            .post(self.url("/auth/login"))
            .header("user-agent", user_agent)
            .json(&json!({"email": email, "password": crate::helpers::PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        response.json().await.expect("json")
    }
}

pub fn s(v: &Value, key: &str) -> String {
    v[key].as_str().expect(key).to_owned()
}
