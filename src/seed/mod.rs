//! Data the server loads itself: the control catalog and licence SKUs (shipped in `data/`,
//! compiled into the binary), and the demo tenants seeded on first start.

pub mod catalog;
pub mod demo;
pub mod scale;

use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// The ready-to-use tokens of the demo tenant, printed on first start.
#[derive(Clone, Debug)]
pub struct DemoTokens {
    pub tenant_slug: String,
    pub reader: String,
    pub operator: String,
    pub admin: String,
    pub msp: String,
    /// A SERVICE_ADMIN: creates tenants, grants roles on any tenant, manages the service catalog;
    /// holds no role on any tenant.
    pub service_admin: String,
}

impl DemoTokens {
    /// The text printed for a newcomer.
    pub fn banner(&self) -> String {
        format!(
            "Demo tokens for tenant `{slug}` (shown once; stored hashed):\n  \
             READER   {r}\n  OPERATOR {o}\n  ADMIN    {a}\n  \
             MSP (reader on every demo tenant) {m}\n  \
             SERVICE_ADMIN (creates tenants, grants roles, manages the catalog) {s}\n\
             Use one as the header  Authorization: Bearer <token>  in the playground.\n",
            slug = self.tenant_slug,
            r = self.reader,
            o = self.operator,
            a = self.admin,
            m = self.msp,
            s = self.service_admin,
        )
    }
}

impl DemoTokens {
    /// Saves the banner to `path`, readable by the owner only (the tokens are secrets and can't be
    /// shown again: only their hashes are stored).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        write_secret_file(path, &self.banner(), "DEMO_TOKENS_FILE")
    }
}

/// What a later start says about the demo tokens: where the first start saved them, and what it
/// saved; `None` when there is no such file.
pub fn saved_tokens_notice(path: &Path) -> Option<String> {
    let content = std::fs::read_to_string(path).ok()?;
    Some(format!(
        "demo tokens were printed on first start and saved in {}:\n{content}",
        path.display()
    ))
}

/// Writes a secret to `path`, readable by its owner only; `what` names the setting in errors.
pub(crate) fn write_secret_file(path: &Path, content: &str, what: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {what} {}", path.display()))?;
    // `mode` applies only when the file is created; an older file keeps its permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {what} {}", path.display()))?;
    }
    file.write_all(content.as_bytes())
        .with_context(|| format!("cannot write {what} {}", path.display()))
}
