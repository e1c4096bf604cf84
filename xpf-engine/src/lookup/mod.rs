//! Longest-prefix-match tables (placeholder; being written).
