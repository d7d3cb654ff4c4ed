//! Microsoft Graph Secure Score data: [`parse`] (pure: JSON documents to typed records),
//! [`import`] (writes them through the workflow's guarded write path) and [`sync`] (settings, a
//! Graph client and the scheduled task that imports enabled tenants).

pub mod import;
pub mod parse;
pub mod sync;
