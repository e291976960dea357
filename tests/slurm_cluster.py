"""A real single-node SLURM cluster on 127.0.0.1 for the workflow's SLURM tests.

`SlurmCluster(root).start()` runs munged, slurmctld and slurmd (Debian's packages) with every file
(key, sockets, pid files, state, spool, logs, slurm.conf) under `root`, waits until the node is
`idle`, and `stop()` ends exactly the daemons it started, by the PIDs in their pid files.

`/etc/slurm/slurm.conf` must exist while jobs run (the Snakemake SLURM job-step plugin removes
`SLURM_CONF` from the job's environment and `srun` then reads the default path): `start()` links it
to the cluster's file and `stop()` removes that link again.

`install_reason()` installs the packages with apt-get when they are missing and returns why the
cluster cannot run here (None when it can).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
DAEMONS = ("slurmctld", "slurmd", "munged", "sinfo", "sbatch", "squeue", "scontrol", "srun")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


def _missing() -> list[str]:
    found = {name: shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin") for name in DAEMONS}
    return [name for name, path in found.items() if path is None]


def install_reason() -> str | None:
    """Make sure SLURM and munge are installed; return why they cannot be (None when they are)."""
    if not _missing():
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"SLURM programs {_missing()} are missing and installing them needs root"
    if shutil.which("apt-get") is None:
        return f"SLURM programs {_missing()} are missing and apt-get is not available to install them"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
    if _missing():
        raise RuntimeError(f"apt-get installed {PACKAGES} but {_missing()} are still not on PATH")
    return None


def system_conf_reason() -> str | None:
    """Why `/etc/slurm/slurm.conf` cannot be linked to a test cluster (None when it can)."""
    if SYSTEM_CONF.is_symlink() and not SYSTEM_CONF.exists():
        return None  # a dangling link left by an interrupted run: replaced in start()
    if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
        return (
            f"{SYSTEM_CONF} already exists (this machine's own SLURM, or another test cluster running now): "
            "the test will not replace it"
        )
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_total_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("/proc/meminfo has no MemTotal line")


class SlurmCluster:
    """munged + slurmctld + slurmd on 127.0.0.1: one node `localhost` in two partitions.

    `cpu` (the default) and `gpu`; the node declares `gpus` GPUs as a counted generic resource
    (gres.conf without device files: SLURM schedules and accounts them, nothing more), so that jobs
    asking for a GPU (`--gpus=1`) are scheduled, on the `gpu` partition only where the submission
    says so. `mem_mb` is what the node declares (SlurmdParameters=config_overrides: the hardware
    is not checked; without cgroups memory is not enforced either), so that rules declaring the
    memory of a real cluster node still fit.
    """

    partitions = ("cpu", "gpu")

    def __init__(self, root: Path, cpus: int | None = None, mem_mb: int = 64000, gpus: int = 1):
        self.root = Path(root)
        self.cpus = cpus or os.cpu_count() or 1
        self.mem_mb = mem_mb
        self.gpus = gpus
        self.conf = self.root / "slurm.conf"
        self.munge_dir = self.root / "munge"
        self.munge_socket = self.munge_dir / "munge.socket"
        self.pid_files = {
            "munged": self.munge_dir / "munged.pid",
            "slurmctld": self.root / "run" / "slurmctld.pid",
            "slurmd": self.root / "run" / "slurmd.pid",
        }
        self.log_files = {
            "munged": self.munge_dir / "munged.log",
            "slurmctld": self.root / "log" / "slurmctld.log",
            "slurmd": self.root / "log" / "slurmd.log",
        }
        self.linked_system_conf = False
        self.created_system_dir = False

    # ------------------------------------------------------------------ environment
    @property
    def env(self) -> dict[str, str]:
        """os.environ plus SLURM_CONF pointing at this cluster (for sbatch/squeue/snakemake)."""
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    def job(self, job_id: int | str) -> dict[str, str]:
        """`scontrol show job` of a job as a dictionary (finished jobs stay listed for MinJobAge=300 s)."""
        out = self.run("scontrol", "show", "job", "--oneliner", str(job_id)).stdout
        fields = {}
        for item in out.split():
            key, sep, value = item.partition("=")
            if sep:
                fields[key] = value
        return fields

    # ------------------------------------------------------------------ configuration
    def write_config(self) -> None:
        for sub in ("run", "log", "state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.munge_dir.mkdir(parents=True, exist_ok=True)
        self.munge_dir.chmod(0o755)  # munged refuses a socket folder writable by others
        key = self.munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        r = self.root
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=ecgdifftest",
                    "SlurmctldHost=localhost(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={self.munge_socket}",
                    "CredType=cred/munge",
                    f"StateSaveLocation={r / 'state'}",
                    f"SlurmdSpoolDir={r / 'spool'}",
                    f"SlurmctldPidFile={self.pid_files['slurmctld']}",
                    f"SlurmdPidFile={self.pid_files['slurmd']}",
                    f"SlurmctldLogFile={self.log_files['slurmctld']}",
                    f"SlurmdLogFile={self.log_files['slurmd']}",
                    "SlurmctldDebug=info",
                    "SlurmdDebug=info",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "SchedulerType=sched/builtin",  # start jobs as soon as they are submitted
                    "ReturnToService=2",
                    "MpiDefault=none",
                    "MailProg=/bin/true",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "InactiveLimit=0",
                    "KillWait=5",
                    "MinJobAge=300",
                    "SlurmdTimeout=60",
                    "SlurmdParameters=config_overrides",
                    "GresTypes=gpu",
                    f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} "
                    f"Gres=gpu:{self.gpus} State=UNKNOWN",
                    "PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                    "PartitionName=gpu Nodes=localhost Default=NO MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        # SLURM drops GPUs without a device file; /dev/null stands in for the device (nothing opens it).
        (self.root / "gres.conf").write_text(f"NodeName=localhost Name=gpu Count={self.gpus} File=/dev/null\n")

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 60) -> SlurmCluster:
        reason = system_conf_reason()
        if reason:
            raise RuntimeError(reason)
        self.write_config()
        try:
            self._start_daemons(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_daemons(self, timeout: float) -> None:
        m = self.munge_dir
        self._spawn(
            "munged",
            [
                self._which("munged"),
                f"--key-file={m / 'munge.key'}",
                f"--socket={self.munge_socket}",
                f"--pid-file={self.pid_files['munged']}",
                f"--log-file={self.log_files['munged']}",
                f"--seed-file={m / 'munged.seed'}",
                "--force",
            ],
        )
        self._wait(lambda: self.munge_socket.exists(), 15, "munged did not create its socket")
        if not SYSTEM_CONF.parent.exists():
            SYSTEM_CONF.parent.mkdir(parents=True)
            self.created_system_dir = True
        if SYSTEM_CONF.is_symlink():
            SYSTEM_CONF.unlink()  # dangling link of an interrupted run (checked in system_conf_reason)
        SYSTEM_CONF.symlink_to(self.conf)
        self.linked_system_conf = True
        self._spawn("slurmctld", [self._which("slurmctld"), "-f", str(self.conf)])
        self._spawn("slurmd", [self._which("slurmd"), "-f", str(self.conf), "-N", "localhost"])

        def idle() -> bool:
            done = self.run("sinfo", "-h", "-o", "%T", check=False, timeout=10)
            return done.returncode == 0 and done.stdout.strip() == "idle"

        self._wait(idle, timeout, "the node did not become idle")

    def _which(self, name: str) -> str:
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if path is None:
            raise RuntimeError(f"{name} is not installed")
        return path

    def _spawn(self, name: str, cmd: list[str]) -> None:
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(
                f"{name} failed to start ({done.returncode}): {done.stdout}{done.stderr}\n{self.logs(name)}"
            )
        self._wait(lambda: self._pid(name) is not None, 15, f"{name} wrote no pid file")

    def _wait(self, ok, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ok():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} within {timeout:.0f} s\n{self.logs()}")

    def _pid(self, name: str) -> int | None:
        try:
            return int(self.pid_files[name].read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def logs(self, *names: str) -> str:
        """The tail of the daemons' log files (for error messages)."""
        parts = []
        for name in names or tuple(self.log_files):
            path = self.log_files[name]
            text = path.read_text(errors="replace")[-3000:] if path.exists() else "(no log file)"
            parts.append(f"--- {name} log ({path}):\n{text}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel leftover jobs, stop the daemons by their pid files, remove the /etc/slurm link."""
        if self._pid("slurmctld") is not None:
            self.run("scancel", "--user", str(os.getuid()), check=False, timeout=10)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self._pid(name)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            end = time.monotonic() + 15
            while time.monotonic() < end and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self.linked_system_conf and SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == self.conf:
            SYSTEM_CONF.unlink()
            self.linked_system_conf = False
        if self.created_system_dir:
            try:
                SYSTEM_CONF.parent.rmdir()
            except OSError:
                pass
            self.created_system_dir = False

    def alive(self) -> dict[str, bool]:
        """Which of the daemons are running (by their pid files)."""
        return {name: (pid := self._pid(name)) is not None and _alive(pid) for name in self.pid_files}

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie child counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False
