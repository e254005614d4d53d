# Booting an installed OS version the way Linux would map it:
#
#   scan.py      every place a version lives (LVs holding a DDI, DPS root sets
#                on a disk, a whole-disk DDI) -> [Version], newest good first
#   version.py   systemd's version order and boot-counter names
#   entries/     the boot entries inside a verified file system (BLS, UKI,
#                extlinux, the plain /boot convention)
#   plan.py      trust, the dm stack, the entry's files read once through verity,
#                the kernel command line -> a Plan
#   cmdline.py   dm-mod.create= from the firmware's own dm devices
#   count.py     systemd's boot counting on LV names and partition labels
#   handoff.py   the platform hook: kexec in the Linux guest, files on the host
