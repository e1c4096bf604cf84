//! The backend conformance suite: a [`Harness`] trait each backend
//! implements, an independent reference model of the compiled form's
//! semantics, proptest generators for configs and traffic, and the
//! properties every backend must satisfy.
//!
//! - [`harness`]: the trait and its neutral data types.
//! - [`model`]: the reference model (itself a [`Harness`]).

pub mod harness;
pub mod model;

pub use harness::{
    CounterSnapshot, EmittedFrame, Harness, HarnessError, HarnessFactory, Outcome,
    ReconcileSummary, Verdict, ZoneCounters,
};
pub use model::Model;
pub mod generate;
pub mod render;
pub mod run;
pub mod suite;
