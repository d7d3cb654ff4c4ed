//! A tenant's score over time: daily snapshots and the job that writes them, comparisons with
//! similar organisations (cohorts) and peer adoption of each control, trends from the event log,
//! and score zones and goals.

pub mod adoption;
pub mod cache;
pub mod comparisons;
pub mod goals;
pub mod packed;
pub mod snapshots;
pub mod trends;
