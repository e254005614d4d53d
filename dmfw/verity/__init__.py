# dm-verity on-disk formats as cryptsetup writes them and the kernel reads
# them: superblock, hash tree geometry/build/verify, and FEC (Reed-Solomon).
