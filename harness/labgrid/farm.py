"""A labgrid board farm on this host, from labgrid's own programs.

    farm = LocalFarm(serial_socket, workdir).start()
    ...   pytest --lg-env farm.env_file --lg-coordinator farm.address tests/guest
    farm.stop()

`labgrid-coordinator` and `labgrid-exporter` listen on 127.0.0.1 (free ports); the
firmware console of a running guest (QEMU's serial unix socket) becomes a pty through
socat, and the exporter exports that pty as it exports a board's UART: a
`RawSerialPort` it serves with its own ser2net, seen by clients as a
`NetworkSerialPort`.  A place matches that port and is acquired; tests then reach the
console through a `RemotePlace`, as a lab's tests reach a board.

Every program runs in its own process group and dies with the thread that started it
(harness.guest's PR_SET_PDEATHSIG); stop() kills the groups, so the exporter's ser2net
goes with the exporter.  Problems surface as FarmError naming the missing piece.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from harness.guest import _die_with_parent


class FarmError(RuntimeError):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(name):
    """A labgrid program from the running interpreter's environment, else PATH."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    path = here if os.access(here, os.X_OK) else shutil.which(name)
    if not path:
        raise FarmError("%s not found: install the harness extra (pip install 'dmfw[harness]')"
                        % name)
    return path


# The exporter starts ser2net, which would outlive an exporter killed with its parent
# (PR_SET_PDEATHSIG is not inherited).  So each program runs under a shell that leads
# its process group and, told by SIGTERM that the harness is gone, kills the group.
GUARD = 'trap "kill -KILL 0" TERM HUP; "$@" & wait $!'


def _guard_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setpgid(0, 0)


def live_members(pgid):
    """Pids of process group pgid that still run (zombies, dead but not yet reaped
    by init, do not count)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


class Program:
    """One started program: its own process group, output in WORKDIR/NAME.log."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.log = os.path.join(workdir, name + ".log")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(["sh", "-c", GUARD, "sh"] + list(argv), cwd=workdir,
                                         stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, env=env,
                                         preexec_fn=_guard_with_parent)

    def alive(self):
        return self.proc.poll() is None

    def tail(self, size=1500):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-size:]
        except OSError:
            return ""

    def stop(self):
        """SIGTERM to the group (ser2net under the exporter too), SIGKILL after 3 s."""
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; children left in its group get the same signal.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        if self.proc.poll() is None:
            self.proc.wait()
        _wait_gone(self.proc.pid)


def _wait_gone(pgid, timeout=3):
    deadline = time.monotonic() + timeout
    while live_members(pgid):
        if time.monotonic() > deadline:
            raise FarmError("process group %d still running after SIGKILL: %s"
                            % (pgid, live_members(pgid)))
        time.sleep(0.05)


class LocalFarm:
    """Coordinator, exporter and one place for the console at serial_socket."""

    def __init__(self, serial_socket, workdir, name="dmfw-farm", speed=115200):
        self.serial_socket = serial_socket
        self.workdir = workdir
        self.name = name          # the place, the exporter and its resource group
        self.speed = speed
        self.port = None
        self.address = None
        self.programs = {}
        self.uart = None          # the pty the exporter exports
        self._hold = None         # an fd keeping the pty's slave side open
        self.env_file = os.path.join(workdir, "remote.yaml")
        self.exporter_file = os.path.join(workdir, "exporter.yaml")

    # --- programs -----------------------------------------------------------
    def _start(self, name, argv, env=None):
        self.programs[name] = Program(name, argv, self.workdir, env)
        return self.programs[name]

    def _wait(self, what, ready, program, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return
            if not program.alive():
                raise FarmError("%s exited (%s) before %s:\n%s"
                                % (program.name, program.proc.returncode, what, program.tail()))
            if time.monotonic() > deadline:
                raise FarmError("%s: no %s within %ss:\n%s"
                                % (program.name, what, timeout, program.tail()))
            time.sleep(0.1)

    def start_bridge(self):
        """QEMU's serial socket as a pty, what the exporter can serve."""
        if not os.path.exists(self.serial_socket):
            raise FarmError("no serial console socket at %s (is the guest running?)"
                            % self.serial_socket)
        link = os.path.join(self.workdir, "uart")
        bridge = self._start("socat", ["socat", "pty,raw,echo=0,link=" + link,
                                       "UNIX-CONNECT:" + self.serial_socket])
        self._wait("the pty " + link, lambda: os.path.lexists(link), bridge, 10)
        self.uart = os.path.realpath(link)
        # ser2net opens the port per client and closes it after; a pty whose slave
        # side was closed makes socat's reads fail (EIO) and socat quit. Held open
        # here (never read), the bridge outlives the sessions.
        self._hold = os.open(self.uart, os.O_RDWR | os.O_NOCTTY)

    def start_coordinator(self):
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        coord = self._start("labgrid-coordinator",
                            [tool("labgrid-coordinator"), "--listen", self.address])
        self._wait("listening on " + self.address, self._listening, coord, 30)

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return True
        except OSError:
            return False

    def exporter_yaml(self):
        return ("## The guest's firmware console, exported as a board's UART is\n"
                "## (exporter files are jinja2 templates: ## starts a comment).\n"
                "%s:\n  RawSerialPort:\n    port: %s\n    speed: %d\n"
                % (self.name, self.uart, self.speed))

    def start_exporter(self, timeout=30):
        with open(self.exporter_file, "w") as f:
            f.write(self.exporter_yaml())
        exporter = self._start("labgrid-exporter", [
            tool("labgrid-exporter"), "--coordinator", self.address, "--name", self.name,
            "--hostname", "127.0.0.1", self.exporter_file])
        self._wait("NetworkSerialPort on the coordinator", self._exported, exporter, timeout)

    def _exported(self):
        out = self.client("resources", check=False)
        return "%s/%s/NetworkSerialPort" % (self.name, self.name) in out

    def start(self):
        """Everything, up to the acquired place; on failure, stop what started."""
        try:
            self.start_bridge()
            self.start_coordinator()
            self.start_exporter()
            self.client("-p", self.name, "create")
            self.client("-p", self.name, "add-match",
                        "%s/%s/NetworkSerialPort" % (self.name, self.name))
            self.acquire()
            with open(self.env_file, "w") as f:
                f.write(self.environment())
        except BaseException:
            self.stop()
            raise
        return self

    # --- the client ---------------------------------------------------------
    def client(self, *args, env=None, check=True, timeout=30):
        """labgrid-client -x ADDRESS ARGS; its output, FarmError when it fails."""
        argv = [tool("labgrid-client"), "-x", self.address] + list(args)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  env=env, preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired:
            raise FarmError("labgrid-client %s: no answer within %ss" % (" ".join(args), timeout))
        if check and done.returncode:
            raise FarmError("labgrid-client %s: %s" % (" ".join(args),
                                                       (done.stderr or done.stdout).strip()))
        return done.stdout

    def acquire(self, env=None):
        self.client("-p", self.name, "acquire", env=env)

    def release(self, kick=False, env=None):
        self.client("-p", self.name, "release", *(["--kick"] if kick else []), env=env)

    def acquired_by(self):
        """user@host holding the place ('' when free), from `labgrid-client show`."""
        for line in self.client("-p", self.name, "show").splitlines():
            line = line.strip()
            if line.startswith("acquired:"):
                value = line.split(":", 1)[1].strip()
                return "" if value == "None" else value
        return ""

    def environment(self):
        """The labgrid environment a test run uses: the place, its console, dmfw."""
        return """\
# The dmfw firmware console on place {place} (harness/labgrid/farm.py).
targets:
  main:
    resources:
      RemotePlace:
        name: {place}
    drivers:
      SerialDriver: {{}}
      DmfwShellDriver:
        prompt: "dmfw> "
        login_timeout: 30
      DmfwStrategy: {{}}
imports:
  - harness.labgrid
""".format(place=self.name)

    # --- end ----------------------------------------------------------------
    def kill(self, name):
        """Stop one program (and its group) at once, as if it had vanished."""
        program = self.programs.pop(name)
        try:
            os.killpg(program.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        program.proc.wait()
        _wait_gone(program.proc.pid)

    def stop(self):
        if self.address and "labgrid-coordinator" in self.programs:
            try:
                self.release(kick=True)
            except FarmError:
                pass  # not acquired, or the coordinator already gone
        for name in ("labgrid-exporter", "labgrid-coordinator", "socat"):
            program = self.programs.pop(name, None)
            if program:
                program.stop()
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None

    def pids(self):
        return [p.proc.pid for p in self.programs.values()]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
