//! Kernel command line model: `ip=`, `nfsroot=`, `root=`, our own arguments.
