# What a firmware without an operating system brings itself: the disk driver
# (virtio_blk: virtio-mmio block devices, polled) and the boot that puts them
# and the shell on the console (baremetal).
