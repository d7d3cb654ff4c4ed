//! A tenant's score over time: daily snapshots and the job that writes them, comparisons with
//! similar organisations (cohorts) and peer adoption of each control, trends from the event log,
//! score zones and goals, and why the score moved between two days (`attribution`).

pub mod adoption;
pub mod attribution;
pub mod cache;
pub mod comparisons;
pub mod goals;
pub mod packed;
pub mod snapshots;
pub mod trends;
