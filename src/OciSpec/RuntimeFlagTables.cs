namespace Csshim.OciSpec;

/// <summary>
/// Which flags of runc/crun and runsc take a value, globally and per subcommand. Read from `runc --help` (1.1.5),
/// `runsc flags`/`runsc help CMD` (Debian 0.0~20221219) and gVisor's runsc/config/flags.go (2024 and later), as a
/// union: a flag that takes a value in any of those releases is listed as valued.
/// </summary>
public static class RuntimeFlagTables
{
    /// <summary>runc's globals (urfave/cli v1, Go flag rules). crun (GNU argp) shares the names it has with runc,
    /// and adds --cgroup-manager. Note runc's --rootless is a string (true|false|auto), runsc's is a bool.</summary>
    public static readonly FlagTable RuncGlobals = FlagTable.Of(
        valued: ["root", "log", "log-format", "criu", "rootless", "cgroup-manager", "log-level"],
        bools: ["debug", "systemd-cgroup", "help,h", "version,v"]);

    public static readonly FlagTable RunscGlobals = FlagTable.Of(
        valued:
        [
            // runsc 2022 (`runsc flags`)
            "root", "log", "log-format", "log-fd", "debug-log", "debug-log-fd", "debug-log-format", "debug-command",
            "panic-log", "panic-log-fd", "panic-signal", "coverage-fd", "coverage-report", "pcap-log", "dcache",
            "fdlimit", "file-access", "file-access-mounts", "host-fifo", "host-uds", "network",
            "num-network-channels", "overlay2", "platform", "platform_device_path", "pod-init-config",
            "profile-block", "profile-cpu", "profile-heap", "profile-mutex", "qdisc", "ref-leak-mode",
            "strace-log-size", "strace-syscalls", "trace", "traceback", "watchdog-action", "TESTONLY-test-name-env",
            // later releases (runsc/config/flags.go)
            "metric-server", "final-metrics-log", "profiling-metrics", "profiling-metrics-log",
            "profiling-metrics-rate-us", "profile-gc-interval", "signal-unkillable-policy", "host-settings",
            "sidecar-release-enforcement-policy", "sidecar-usage-policy", "restore-spec-validation",
            "control-rpc-stop-timeout", "shared-root", "character-device-policy", "override-procs",
            "in-sandbox-cgroup", "network-proxy-path", "gofer-network-namespace", "qdisc-tbf-rate",
            "qdisc-tbf-burst", "network-processors-per-channel", "EXPERIMENTAL-xdp", "nvproxy-driver-version",
            "cuda-checkpoint-path", "nvproxy-allowed-driver-capabilities", "TESTONLY-autosave-image-path",
        ],
        bools:
        [
            "debug", "systemd-cgroup", "rootless", "version", "help", "alsologtostderr", "log-packets", "strace",
            "strace-event", "profile", "oci-seccomp", "enable-core-tags", "ignore-cgroups", "overlay", "directfs",
            "net-raw", "gso", "software-gso", "tx-checksum-offload", "rx-checksum-offload", "allow-flag-override",
            "cpu-num-from-quota", "debug-to-user-log", "nvproxy", "nvproxy-docker", "tpuproxy", "buffer-pooling",
            "vfs2", "fuse", "lisafs", "cgroupfs", "fsgofer-host-uds", "TESTONLY-unsafe-nonroot",
        ],
        // a duration in 2022 (`-gvisor-gro duration`), a bool in later releases
        durationOrBool: ["gvisor-gro"]);

    public static FlagTable Globals(RuntimeFlavor flavor) => flavor == RuntimeFlavor.Runsc ? RunscGlobals : RuncGlobals;

    private static readonly Dictionary<string, FlagTable> RuncCommands = new(StringComparer.Ordinal)
    {
        ["create"] = FlagTable.Of(["bundle,b", "console-socket", "pid-file", "preserve-fds"],
            ["no-pivot", "no-new-keyring"]),
        ["run"] = FlagTable.Of(["bundle,b", "console-socket", "pid-file", "preserve-fds"],
            ["detach,d", "keep", "no-subreaper", "no-pivot", "no-new-keyring"]),
        ["start"] = FlagTable.Empty,
        ["delete"] = FlagTable.Of([], ["force,f"]),
        ["kill"] = FlagTable.Of([], ["all,a"]),
        ["state"] = FlagTable.Empty,
        ["exec"] = FlagTable.Of(
            ["console-socket", "cwd", "env,e", "user,u", "additional-gids,g", "process,p", "pid-file",
             "process-label", "apparmor", "cap,c", "preserve-fds", "cgroup"],
            ["tty,t", "detach,d", "no-new-privs", "ignore-paused"]),
        ["ps"] = FlagTable.Of(["format,f"]),
        ["events"] = FlagTable.Of(["interval"], ["stats"]),
        ["pause"] = FlagTable.Empty,
        ["resume"] = FlagTable.Empty,
        ["checkpoint"] = FlagTable.Of(
            ["image-path", "work-path", "parent-path", "status-fd", "page-server", "manage-cgroups-mode", "empty-ns"],
            ["leave-running", "tcp-established", "ext-unix-sk", "shell-job", "lazy-pages", "file-locks", "pre-dump",
             "auto-dedup"]),
        ["restore"] = FlagTable.Of(
            ["console-socket", "image-path", "work-path", "manage-cgroups-mode", "bundle,b", "pid-file", "empty-ns",
             "lsm-profile", "lsm-mount-context"],
            ["tcp-established", "ext-unix-sk", "shell-job", "file-locks", "detach,d", "no-subreaper", "no-pivot",
             "auto-dedup", "lazy-pages"]),
        ["update"] = FlagTable.Of(
            ["resources,r", "blkio-weight", "cpu-period", "cpu-quota", "cpu-share", "cpu-rt-period", "cpu-rt-runtime",
             "cpuset-cpus", "cpuset-mems", "memory", "memory-reservation", "memory-swap", "pids-limit",
             "l3-cache-schema", "mem-bw-schema", "cpu-idle"]),
        ["spec"] = FlagTable.Of(["bundle,b"], ["rootless"]),
        ["list"] = FlagTable.Of(["format,f"], ["quiet,q"]),
        ["features"] = FlagTable.Empty,
    };

    private static readonly Dictionary<string, FlagTable> RunscCommands = new(StringComparer.Ordinal)
    {
        ["create"] = FlagTable.Of(["bundle", "console-socket", "pid-file", "user-log"]),
        ["run"] = FlagTable.Of(["bundle", "console-socket", "pid-file", "user-log"], ["detach"]),
        ["start"] = FlagTable.Empty,
        ["delete"] = FlagTable.Of([], ["force"]),
        ["kill"] = FlagTable.Of(["pid"], ["all"]),
        ["state"] = FlagTable.Empty,
        ["exec"] = FlagTable.Of(
            ["additional-gids", "cap", "console-socket", "cwd", "env", "internal-pid-file", "pid-file", "process",
             "user"],
            ["detach"]),
        ["ps"] = FlagTable.Of(["format"]),
        ["events"] = FlagTable.Of(["interval"], ["stats"]),
        ["pause"] = FlagTable.Empty,
        ["resume"] = FlagTable.Empty,
        ["checkpoint"] = FlagTable.Of(["image-path", "work-path", "compression"], ["leave-running", "direct"]),
        ["restore"] = FlagTable.Of(
            ["bundle", "console-socket", "image-path", "pid-file", "user-log", "work-path"],
            ["detach", "no-subreaper", "background", "direct"]),
        ["update"] = FlagTable.Empty,
        ["spec"] = FlagTable.Of(["bundle", "cwd", "netns"]),
        ["list"] = FlagTable.Of(["format"], ["quiet", "sandbox"]),
        ["wait"] = FlagTable.Of(["pid", "rootpid"], ["checkpoint", "restore"]),
    };

    public static FlagTable ForSubcommand(string subcommand, RuntimeFlavor flavor)
    {
        var tables = flavor == RuntimeFlavor.Runsc ? RunscCommands : RuncCommands;
        return tables.TryGetValue(subcommand, out var t) ? t : FlagTable.Empty;
    }

    /// <summary>
    /// runc (urfave/cli v1) moves the known flags of a subcommand in front of its positionals before Go parses
    /// them, so `runc delete ID --force` works; `exec` opts out (SkipArgReorder) so `exec ID sh -c x` keeps the
    /// command's own flags. runsc (google/subcommands) never reorders.
    /// </summary>
    public static bool Reorders(string subcommand, RuntimeFlavor flavor) =>
        flavor == RuntimeFlavor.Runc && subcommand != "exec";
}
