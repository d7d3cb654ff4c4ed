//! Data the server loads itself: the control catalog and licence SKUs (shipped in `data/`,
//! compiled into the binary), and the demo tenants seeded on first start.

pub mod catalog;
pub mod demo;

/// The ready-to-use tokens of the demo tenant, printed on first start.
#[derive(Clone, Debug)]
pub struct DemoTokens {
    pub tenant_slug: String,
    pub reader: String,
    pub operator: String,
    pub admin: String,
    pub msp: String,
}

impl DemoTokens {
    /// The text printed for a newcomer.
    pub fn banner(&self) -> String {
        format!(
            "Demo tokens for tenant `{slug}` (shown once; stored hashed):\n  \
             READER   {r}\n  OPERATOR {o}\n  ADMIN    {a}\n  \
             MSP (reader on every demo tenant) {m}\n\
             Use one as the header  Authorization: Bearer <token>  in the playground.\n",
            slug = self.tenant_slug,
            r = self.reader,
            o = self.operator,
            a = self.admin,
            m = self.msp,
        )
    }
}
