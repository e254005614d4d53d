"""Partition tables (GPT) and Discoverable Disk Images."""


def scan_partitions(devices, disk=None, warn=None):
    """Add the GPT partitions of `disk` (or of every whole disk not yet
    scanned) to the registry as vda1-style devices. The shell calls this at
    start and after attaching a disk. Kept here so importing dmfw.disk
    costs nothing until a disk is scanned."""
    from dmfw.disk.partitions import scan
    return scan(devices, disk, warn)
