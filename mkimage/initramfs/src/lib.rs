//! Placeholder: initramfs image building (newc cpio, kernel modules).
