//! What people attach to improvement actions: notes, tags and share links. Each change writes
//! its event through `workflow::events`.

pub mod notes;
pub mod share;
pub mod tags;
