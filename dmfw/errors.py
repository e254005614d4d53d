# One error hierarchy for the whole project. Every failure a user can cause
# (bad table, corrupt header, wrong key, I/O past the end) is a DMError that
# carries a Linux errno, so the shell can print it the way the Linux tools do
# and exit non-zero; anything else escaping dmfw/ is a bug.

# Linux errno values (MicroPython's errno module lacks several of these).
EPERM = 1
ENOENT = 2
EIO = 5
ENXIO = 6
ENOEXEC = 8
EBADF = 9
ENOMEM = 12
EACCES = 13
EBUSY = 16
EEXIST = 17
ENODEV = 19
EINVAL = 22
ENOSPC = 28
EROFS = 30
ENODATA = 61
EBADMSG = 74
EILSEQ = 84
EOPNOTSUPP = 95
ENOKEY = 126
EKEYREJECTED = 129

STRERROR = {
    EPERM: "Operation not permitted",
    ENOENT: "No such file or directory",
    EIO: "Input/output error",
    ENXIO: "No such device or address",
    ENOEXEC: "Exec format error",
    EBADF: "Bad file descriptor",
    ENOMEM: "Cannot allocate memory",
    EACCES: "Permission denied",
    EBUSY: "Device or resource busy",
    EEXIST: "File exists",
    ENODEV: "No such device",
    EINVAL: "Invalid argument",
    ENOSPC: "No space left on device",
    EROFS: "Read-only file system",
    ENODATA: "No data available",
    EBADMSG: "Bad message",
    EILSEQ: "Invalid or incomplete multibyte or wide character",
    EOPNOTSUPP: "Operation not supported",
    ENOKEY: "Required key not available",
    EKEYREJECTED: "Key was rejected by service",
}


def strerror(errno):
    return STRERROR.get(errno, "Unknown error %d" % errno)


class DMError(Exception):
    """Base of every error dmfw raises on purpose: errno + one-line message."""

    def __init__(self, errno, msg=None):
        super().__init__(msg or strerror(errno))
        self.errno = errno
        self.msg = msg or strerror(errno)

    def __str__(self):
        return self.msg


class FormatError(DMError):
    """Corrupt, truncated or unsupported on-disk data (headers, metadata, DER)."""

    def __init__(self, msg, errno=EINVAL):
        DMError.__init__(self, errno, msg)


class IOFailure(DMError):
    """A read or write that failed: device error, out of range, verity mismatch."""

    def __init__(self, msg, errno=EIO):
        DMError.__init__(self, errno, msg)


class UsageError(DMError):
    """A shell command called with wrong arguments."""

    def __init__(self, msg):
        DMError.__init__(self, EINVAL, msg)
