# Type #2 entries (unified kernel images): not read yet.


def find(fs, arch, warn):
    return []
