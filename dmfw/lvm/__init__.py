"""LVM2: PV labels, metadata areas, the text metadata format, VG assembly and
the dm tables lvm2 would load. Submodules are imported on use."""
