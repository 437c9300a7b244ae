//! The seed's stack (filled in below the skeleton).
