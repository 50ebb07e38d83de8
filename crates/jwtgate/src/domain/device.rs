//! Owns the device label of a session: a short human name ("Firefox on Linux", "curl") parsed
//! from the User-Agent by hand (a full UA database crate is far more than a session list needs).
//! Must not import axum or sqlx.

/// A short label for a User-Agent string; "Unknown device" when nothing is recognised.
pub fn label(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|u| !u.is_empty()) else {
        return "Unknown device".to_owned();
    };
    // Command-line clients and libraries name themselves first: "curl/8.5.0".
    let first = ua.split(['/', ' ']).next().unwrap_or_default();
    for (prefix, name) in [
        ("curl", "curl"),
        ("Wget", "Wget"),
        ("HTTPie", "HTTPie"),
        ("python-requests", "Python requests"),
        ("python-httpx", "Python httpx"),
        ("Python-urllib", "Python urllib"),
        ("okhttp", "OkHttp"),
        ("Go-http-client", "Go HTTP client"),
        ("PostmanRuntime", "Postman"),
        ("node-fetch", "Node.js"),
        ("node", "Node.js"),
        ("axios", "axios"),
        ("reqwest", "reqwest"),
    ] {
        if first.eq_ignore_ascii_case(prefix) {
            return name.to_owned();
        }
    }
    let has = |needle: &str| ua.contains(needle);
    // Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
    let browser = if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else {
        None
    };
    // Android before Linux (Android UAs say both); iOS devices say "like Mac OS X".
    let os = if has("Android") {
        Some("Android")
    } else if has("iPhone") {
        Some("iPhone")
    } else if has("iPad") {
        Some("iPad")
    } else if has("Windows") {
        Some("Windows")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("Unknown browser on {o}"),
        (None, None) => {
            // Keep a recognisable name without echoing an arbitrarily long header.
            let name: String = first
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(32)
                .collect();
            if name.is_empty() {
                "Unknown device".to_owned()
            } else {
                name
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn common_user_agents_get_short_labels() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            ("curl/8.5.0", "curl"),
            ("python-requests/2.32.3", "Python requests"),
            ("MyApp/1.2", "MyApp"),
        ];
        for (ua, expected) in cases {
            assert_eq!(label(Some(ua)), expected, "{ua}");
        }
        assert_eq!(label(None), "Unknown device");
        assert_eq!(label(Some("   ")), "Unknown device");
    }
}
