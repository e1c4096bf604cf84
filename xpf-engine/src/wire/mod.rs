//! Typed zero-copy views over frames (placeholder; being written).
