"""Partition tables (GPT) and Discoverable Disk Images."""
