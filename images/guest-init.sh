#!/bin/sh
# /init of the dmfw guest (travels in the per-boot overlay archive, not the base).
# ttyS0: the firmware console, the dmfw shell under MicroPython, respawned on exit.
# hvc0:  a Linux root shell, the kernel oracle and the bulk-data channel.
# hvc1:  a spare Linux shell for a person to attach to while tests drive the others.
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=vt100
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/mapper /run/cryptsetup /run/lock /tmp
mount -t devpts devpts /dev/pts
dmesg -n 1
for m in $(cat /etc/dmfw-modules); do modprobe -q "$m" 2>/dev/null; done
# No udev here: libdevmapper makes /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1

# A session leader opening a tty gets it as its controlling terminal, so ^C on the
# console reaches the shell that runs there.
for hvc in hvc0 hvc1; do
	[ -e /dev/$hvc ] || continue
	(
		while :; do
			setsid sh -c "exec sh -i <>/dev/$hvc >&0 2>&0"
			sleep 0.2
		done
	) &
done

echo "dmfw guest: $(uname -r), $(micropython -c 'import sys; print(sys.implementation.name, sys.version)')" >/dev/ttyS0
while :; do
	setsid sh -c 'MICROPYPATH=/usr/lib/dmfw-py exec micropython -X heapsize=64M -m dmfw shell --scan -i <>/dev/ttyS0 >&0 2>&0'
	echo "dmfw shell exited ($?), restarting" >/dev/ttyS0
	sleep 0.5
done
