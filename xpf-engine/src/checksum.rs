//! Internet checksums (placeholder; being written).
