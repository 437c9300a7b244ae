//! Shared by the initramfs tests: the cached Debian stock kernel, with the
//! `modules.dep` that `dpkg -x` leaves out.

use std::path::PathBuf;

use diskless_initramfs::{Compression, ImageSpec};
use diskless_qemu::kernel::{stock_kernel, StockKernel};

pub fn stock() -> StockKernel {
    stock_kernel().expect("the test bed's stock kernel (diskless-qemu setup)")
}

// Not every test binary that includes this module builds an image.
#[allow(dead_code)]
/// busybox-static stands in for the static diskless-init: the image
/// builder only needs a static ELF.
pub fn spec(k: &StockKernel, nics: &[&str], compression: Compression) -> ImageSpec {
    ImageSpec {
        modules_dir: k.modules_dir.clone(),
        init: PathBuf::from("/bin/busybox"),
        nics: nics.iter().map(|s| s.to_string()).collect(),
        all_nics: false,
        compression,
        mtime: 1_700_000_000,
    }
}
