//! NAT allocation (placeholder; being written).
