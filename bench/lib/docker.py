"""A private Docker daemon for the bench's Docker rows: Docker 26 as test/tools/fetch-clients.sh fetches it into
.tools/docker26, with its own config, data root, exec root and socket under the bench's work dir, no networking of
its own (no bridge, no iptables), and csshim registered in its daemon.json by `csshim install --docker-config`, as an
operator registers it. Its containers run on Docker's own runc ("runc") or through csshim over the same runc
("csshim"), from one image imported from the bench's busybox rootfs."""

import json
import os
import signal
import subprocess
import time

IMAGE = "bb"


class DockerError(Exception):
    pass


class DockerDaemon:
    def __init__(self, docker_dir, base, csshim, csshim_args):
        """docker_dir: the fetched Docker 26 tree (usr/bin/docker, usr/sbin/dockerd); base: an empty dir that holds
        everything of this daemon; csshim_args: the runtimeArgs of its "csshim" runtime."""
        self.cli = os.path.join(docker_dir, "usr", "bin", "docker")
        self.dockerd = os.path.join(docker_dir, "usr", "sbin", "dockerd")
        self.base = base
        self.socket = os.path.join(base, "docker.sock")
        self.log = os.path.join(base, "dockerd.log")
        self.env = dict(os.environ)
        self.env["PATH"] = "%s/usr/bin:%s/usr/sbin:%s" % (docker_dir, docker_dir, os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
        self.daemon = None
        self.config = os.path.join(base, "daemon.json")
        with open(self.config, "w") as f:
            f.write("{}\n")
        self._must([csshim, "install", "--docker-config", self.config, "--name", "csshim", "--", *csshim_args],
                   "csshim install --docker-config")
        with open(self.config) as f:
            if "csshim" not in json.load(f).get("runtimes", {}):
                raise DockerError("csshim install wrote no csshim runtime into %s" % self.config)

    @staticmethod
    def available(docker_dir):
        return all(os.access(os.path.join(docker_dir, *p), os.X_OK)
                   for p in (("usr", "bin", "docker"), ("usr", "sbin", "dockerd")))

    def argv(self, *args):
        return [self.cli, "-H", "unix://" + self.socket, *args]

    def start(self, rootfs_tar):
        with open(self.log, "ab") as out:
            self.daemon = subprocess.Popen(
                [self.dockerd, "--config-file", self.config, "--data-root", os.path.join(self.base, "root"),
                 "--exec-root", os.path.join(self.base, "exec"), "--pidfile", os.path.join(self.base, "dockerd.pid"),
                 "-H", "unix://" + self.socket, "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                 "--ip-masq=false", "--bridge=none"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 60
        while not (os.path.exists(self.socket) and self._run(self.argv("info")).returncode == 0):
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise DockerError("dockerd did not come up; its log %s ends:\n%s" % (self.log, self._tail()))
            time.sleep(0.2)
        self._must(self.argv("import", rootfs_tar, IMAGE), "docker import")

    def stop(self):
        """Every container removed, then dockerd stopped as an operator stops it (TERM; KILL after 30 s)."""
        if self.daemon is None:
            return
        if self.daemon.poll() is None:
            ids = self._run(self.argv("ps", "-aq", "--no-trunc")).stdout.split()
            if ids:
                self._run(self.argv("rm", "-f", *ids))
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait()
        self.daemon = None

    def _run(self, argv):
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=self.env, timeout=120)

    def _must(self, argv, what):
        r = self._run(argv)
        if r.returncode != 0:
            raise DockerError("%s failed (exit %d): %s" % (what, r.returncode, (r.stderr or r.stdout).strip()))
        return r.stdout

    def _tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return "(no log)"
