//! Docker target (being written).
