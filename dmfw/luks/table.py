# The crypt table line and dm UUID libcryptsetup 2.7 builds for an
# unlocked volume (lib/libdevmapper.c get_dm_crypt_params, dm_prepare_uuid;
# lib/setup.c: the LUKS2 volume key goes to the keyring as a logon key
# "cryptsetup:<uuid>-d<digest>" and the table names it).

# Activation flags in the order get_dm_crypt_params prints them.
FLAG_ORDER = ("allow_discards", "same_cpu_crypt", "submit_from_crypt_cpus",
              "no_read_workqueue", "no_write_workqueue", "iv_large_sectors")

# LUKS2 persistent config flags -> dm option.
CONFIG_FLAGS = {"allow-discards": "allow_discards", "same-cpu-crypt": "same_cpu_crypt",
                "submit-from-crypt-cpus": "submit_from_crypt_cpus",
                "no-read-workqueue": "no_read_workqueue",
                "no-write-workqueue": "no_write_workqueue"}


def options(flags, sector_size=512):
    opts = [f for f in FLAG_ORDER if f in flags]
    if sector_size != 512:
        opts.append("sector_size:%d" % sector_size)
    return opts


def line(nr_sectors, cipher_spec, key_ref, iv_offset, devno, offset, opts):
    s = "0 %d crypt %s %s %d %s %d" % (nr_sectors, cipher_spec, key_ref, iv_offset,
                                       devno, offset)
    if opts:
        s += " %d %s" % (len(opts), " ".join(opts))
    return s


def dm_uuid(kind, uuid, name):
    """CRYPT-LUKS2-<uuid without dashes>-<name>, CRYPT-PLAIN-<name>."""
    u = (uuid or "").replace("-", "")
    return "CRYPT-%s%s%s-%s" % (kind, "-" if u else "", u, name)


def keyring_desc(uuid, digest):
    return "cryptsetup:%s-d%s" % (uuid, digest)
