//! Session table (placeholder; being written).
