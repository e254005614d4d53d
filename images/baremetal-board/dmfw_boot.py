# Frozen into the bare-metal firmware and run at boot (mpconfigboard.h): the virtio
# disks as vda, vdb, ..., then the dmfw shell on the UART.
from dmfw.platform.baremetal import main

main()
