//! Every error is problem+json, whatever part of the server refused the request.
use reqwest::StatusCode;

use crate::helpers::{problem, spawn_app};
use crate::outbox::s;

#[tokio::test]
async fn a_path_parameter_that_is_not_utf8_gets_a_problem_not_plain_text() {
    let app = spawn_app().await;
    let token = s(&app.signed_in("ada@example.com").await, "access_token");
    for path in [
        "/api/todos/%FF",
        "/auth/sessions/%C3%28",
        "/api/admin/users/%FE/sessions",
    ] {
        let response = app
            .client
            .delete(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        let (status, code, _) = problem(response).await;
        // The admin route refuses a non-admin before it reads the path.
        let expected = if path.starts_with("/api/admin") {
            (StatusCode::FORBIDDEN, "insufficient_scope")
        } else {
            (StatusCode::BAD_REQUEST, "invalid_path")
        };
        assert_eq!((status, code.as_str()), expected, "{path}");
    }
}
