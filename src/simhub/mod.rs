//! A simulated Docker Hub.
