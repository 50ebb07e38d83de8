//! Owns outgoing mail: `Mailer` builds RFC 5322 messages with `lettre` and delivers them through
//! one of two backends chosen by settings. Must not import axum or sqlx.
//!
//! - **Outbox** (the default, for development): each message is written to
//!   `<data_dir>/outbox/<timestamp>-<id>.eml`, and the file's path (never the link in it) is
//!   logged at INFO: a single-use link is a secret, and logs travel further than the data dir.
//! - **SMTP** (`smtp_url`, e.g. `smtp://127.0.0.1:2525`, `smtps://user:pass@host` or
//!   `smtp://host:587?tls=required`): never logs a link or a body, only the failure.
//!
//! Sending never blocks the request path: `send` spawns the delivery and returns.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use aws_lc_rs::digest;

use crate::clock::Clock;
use crate::domain::background::Background;
use crate::domain::email::Email;
use crate::domain::tokens;
use crate::store::{MailRequest, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail_from is not a valid mailbox: {0}")]
    From(String),
    #[error("smtp_url is not valid: {0}")]
    Url(String),
}

/// The kinds of mail, each rationed on its own (a reset does not wait for a verification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    VerifyEmail,
    Reset,
    /// "Someone tried to register with your address" (verification mode).
    AlreadyRegistered,
    /// The link that confirms a new sign-in address, to that address.
    ChangeEmail,
    /// "Your sign-in address was changed", with its undo link, to the old address.
    EmailChanged,
}

impl MailKind {
    fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::Reset => "reset",
            MailKind::AlreadyRegistered => "already_registered",
            MailKind::ChangeEmail => "change_email",
            MailKind::EmailChanged => "email_changed",
        }
    }
}

/// How much mail may go out (see `Settings`: `mail_*`).
#[derive(Debug, Clone, Copy)]
pub struct MailLimits {
    /// No second mail of one kind to one recipient within this many seconds.
    pub cooldown_secs: i64,
    /// Mails an hour at most: to one recipient, triggered by one client address, in all.
    pub per_recipient_per_hour: u32,
    pub per_client_per_hour: u32,
    pub per_hour: u32,
}

/// The recipient that plus-addressing names: `ada+1@example.com`, `Ada+x@Example.com` and
/// `ada@example.com` share one mailbox, so they share one ration.
pub fn canonical_mailbox(address: &str) -> String {
    let address = address.trim().to_lowercase();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}")
        }
        None => address,
    }
}

/// Decides whether a mail may go out: a per-recipient cooldown for every kind of mail, hourly
/// limits per recipient mailbox and per client address, and an hourly budget for the server.
/// Kept in the database, so every node and every restart counts the same mails. Over a limit
/// the mail is simply not sent: callers answer exactly as they would have otherwise, so the
/// limits reveal nothing about which addresses have accounts.
#[derive(Debug, Clone)]
pub struct MailGate {
    store: Store,
    clock: Clock,
    limits: MailLimits,
}

impl MailGate {
    pub fn new(store: Store, clock: Clock, limits: MailLimits) -> Self {
        Self {
            store,
            clock,
            limits,
        }
    }

    /// Whether a mail of `kind` to `to`, asked for from `client_ip`, may go now (and, if so,
    /// it is counted), and when the next one could.
    pub async fn admit(
        &self,
        kind: MailKind,
        to: &str,
        client_ip: &str,
    ) -> Result<Admission, StoreError> {
        let mailbox = canonical_mailbox(to);
        let recipient = digest::digest(&digest::SHA256, mailbox.as_bytes());
        let l = self.limits;
        let request = MailRequest {
            now: self.clock.now(),
            kind: kind.as_str(),
            recipient: recipient.as_ref(),
            client_ip,
            cooldown_secs: l.cooldown_secs,
            per_recipient: l.per_recipient_per_hour,
            per_client: l.per_client_per_hour,
            per_server: l.per_hour,
        };
        let sent = self.store.admit_mail(&request).await?;
        if !sent {
            tracing::info!(kind = kind.as_str(), "mail not sent: over its ration");
        }
        // Only the caller's own account may hear this (resend by a signed-in user).
        let next_in_secs = self.store.mail_wait(&request).await?;
        Ok(Admission { sent, next_in_secs })
    }
}

/// What the mail ration said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The mail may go (and was counted).
    pub sent: bool,
    /// Seconds until another mail like it could go.
    pub next_in_secs: i64,
}

/// One message to send (plain text).
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Clone)]
enum Backend {
    Outbox(PathBuf),
    Smtp(Arc<AsyncSmtpTransport<Tokio1Executor>>),
}

/// Delivers mail in the background. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    backend: Backend,
    from: Mailbox,
    clock: Clock,
    background: Background,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP URL may carry credentials: never print it.
        let backend = match &self.backend {
            Backend::Outbox(dir) => format!("outbox({})", dir.display()),
            Backend::Smtp(_) => "smtp".to_owned(),
        };
        f.debug_struct("Mailer")
            .field("backend", &backend)
            .field("from", &self.from.to_string())
            .finish()
    }
}

type SmtpBuilder = lettre::transport::smtp::AsyncSmtpTransportBuilder;

/// The sender and the SMTP transport the mail settings describe.
fn parse_settings(
    smtp_url: Option<&str>,
    from: &str,
) -> Result<(Mailbox, Option<SmtpBuilder>), MailError> {
    let from: Mailbox = from.parse().map_err(|e| MailError::From(format!("{e}")))?;
    let smtp = smtp_url
        .map(|url| {
            // The parse error would echo the URL (and its password): keep only the kind.
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|_| MailError::Url("expected smtp:// or smtps:// URL".into()))
        })
        .transpose()?;
    Ok((from, smtp))
}

/// Checks the mail settings as [`Mailer::new`] would, building nothing.
pub fn check_settings(smtp_url: Option<&str>, from: &str) -> Result<(), MailError> {
    parse_settings(smtp_url, from).map(|_| ())
}

impl Mailer {
    /// The SMTP backend when `smtp_url` is set, the outbox under `outbox_dir` otherwise.
    pub fn new(
        smtp_url: Option<&str>,
        from: &str,
        outbox_dir: PathBuf,
        clock: Clock,
        background: Background,
    ) -> Result<Self, MailError> {
        let (from, smtp) = parse_settings(smtp_url, from)?;
        let backend = match smtp {
            Some(builder) => Backend::Smtp(Arc::new(
                builder.timeout(Some(Duration::from_secs(15))).build(),
            )),
            None => Backend::Outbox(outbox_dir),
        };
        Ok(Self {
            backend,
            from,
            clock,
            background,
        })
    }

    fn build(&self, mail: &Mail) -> Result<Message, String> {
        // The grammar registration used: an address it accepts is one lettre takes.
        let to = Email::parse(&mail.to).map_err(|e| format!("bad recipient: {e}"))?;
        let to: Mailbox = to
            .as_str()
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        // 7bit keeps the link on one unbroken line: lettre would pick quoted-printable for a
        // line over 76 characters and fold the link. RFC 5322 allows 998, which we check here.
        let text = mail.text.replace("\r\n", "\n").replace('\n', "\r\n");
        let seven_bit = text.bytes().all(|b| b.is_ascii() && b != 0)
            && text.split("\r\n").all(|line| line.len() <= 998);
        if !seven_bit {
            return Err("body is not 7-bit text".to_owned());
        }
        let body =
            Body::dangerous_pre_encoded(text.into_bytes(), ContentTransferEncoding::SevenBit);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())
    }

    /// Queues `mail` for delivery and returns at once; a failure is logged, never raised.
    /// Delivery is background work: shutdown waits for it.
    pub fn send(&self, mail: Mail) {
        let this = self.clone();
        self.background.spawn(async move {
            if let Err(e) = this.deliver(&mail).await {
                tracing::error!(subject = %mail.subject, error = %e, "mail delivery failed");
            }
        });
    }

    /// Delivers now (what `send` runs in the background).
    pub async fn deliver(&self, mail: &Mail) -> Result<(), String> {
        let message = self.build(mail)?;
        match &self.backend {
            Backend::Outbox(dir) => {
                let name = format!("{}-{}.eml", self.clock.now(), tokens::random_id());
                let path = dir.join(name);
                let (dir, written) = (dir.clone(), path.clone());
                // The messages hold live single-use links: 0700 directory, 0600 files. Written
                // then renamed, so a reader never sees half a message.
                tokio::task::spawn_blocking(move || {
                    crate::files::private_dir(&dir)?;
                    let tmp = written.with_extension("tmp");
                    crate::files::write_new_private(&tmp, &message.formatted())?;
                    std::fs::rename(&tmp, &written)
                })
                .await
                .map_err(|e| format!("cannot write to the outbox: {e}"))?
                .map_err(|e| format!("cannot write to the outbox: {e}"))?;
                tracing::info!(
                    file = %path.display(),
                    subject = %mail.subject,
                    "dev mailer: message written to the outbox"
                );
                Ok(())
            }
            Backend::Smtp(transport) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("smtp: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_addresses_share_one_mailbox() {
        for address in [
            "ada@example.com",
            "Ada+1@Example.com",
            " ada+news+x@example.com",
        ] {
            assert_eq!(canonical_mailbox(address), "ada@example.com");
        }
        assert_eq!(canonical_mailbox("bob@example.com"), "bob@example.com");
    }

    #[tokio::test]
    async fn the_outbox_gets_one_eml_file_with_the_link_on_one_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = Mailer::new(
            None,
            "jwtgate <noreply@localhost>",
            dir.path().join("outbox"),
            Clock::manual(1_000),
            Background::new(),
        )
        .expect("mailer");
        let link = format!("http://x/#/verify-email?token={}", "a".repeat(400));
        mailer
            .deliver(&Mail {
                to: "ada@example.com".into(),
                subject: "Hello".into(),
                text: format!("Open this:\r\n\r\n{link}\r\n"),
            })
            .await
            .expect("delivered");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .expect("outbox")
            .filter_map(Result::ok)
            .collect();
        assert_eq!(files.len(), 1);
        let name = files[0].file_name().to_string_lossy().into_owned();
        assert!(
            name.starts_with("1000-") && name.ends_with(".eml"),
            "{name}"
        );
        let text = std::fs::read_to_string(files[0].path()).expect("read");
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(text.contains(&link), "{text}");
    }
}
