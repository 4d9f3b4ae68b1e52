using Csshim.Tests.Rig;
using Csshim.E2E.Rig;

namespace Csshim.E2E;

/// <summary>podman 4.3 (bookworm) with private storage (--root/--runroot/--tmpdir), csshim as --runtime.
/// conmon runs the runtime without podman's environment and podman's cleanup `delete` drops --runtime-flag
/// flags, so csshim's settings come from a wrapper script that sets CSSHIM_CONFIG; the bare --runtime-flag
/// form is tested too.</summary>
[TestFixture, Category("E2E"), NonParallelizable]
public sealed class PodmanTests
{
    const string Image = "localhost/bb";
    // runc cannot raise rlimits above the hard limits of this machine, and podman asks for more by default.
    static readonly string[] RunFlags = ["--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"];
    PrivateDir _dir = null!;
    string _csshim = null!;
    string _state = null!;
    readonly Dictionary<string, Variant> _variants = new();

    /// <summary>How podman is told to use csshim, and how csshim is configured for a `tar rootfs-upper` by hand.</summary>
    sealed record Variant(string[] RuntimeArgs, string[] TarArgs, Dictionary<string, string> TarEnv);

    [OneTimeSetUp]
    public void Setup()
    {
        E2EEnv.RequireRoot();
        E2EEnv.RequireExecutable("/usr/bin/podman", "apt-get install podman (test/tools/fetch-clients.sh)");
        _csshim = E2EEnv.RequireCsshim();
        _dir = new PrivateDir("podman");
        _state = _dir.Dir("csshim-state");
        foreach (var (name, runtime) in new[] { ("runsc-wrapper", E2EEnv.Runsc), ("runc-wrapper", E2EEnv.Runc) })
        {
            var config = ShimConfig.Write(_dir.Sub($"csshim-{name}.json"), runtime, _state);
            var wrapper = ShimConfig.Wrapper(_dir.Sub($"csshim-{name}"), _csshim, config);
            _variants[name] = new Variant(["--runtime", wrapper], [], new() { ["CSSHIM_CONFIG"] = config });
        }
        string[] flags = ["--shim-runtime=" + E2EEnv.Runc, "--shim-state-dir=" + _state, .. RestoreUnderTest.Flags(_state), "--allow-rootfs-tar-annotation"];
        _variants["runc-flags"] = new Variant(
            ["--runtime", _csshim, .. flags.Select(f => "--runtime-flag=" + f[2..])], flags, new());

        Podman("import", BusyboxImage.RootfsTar(_dir.Path), Image).MustSucceed();
    }

    [OneTimeTearDown]
    public void Teardown()
    {
        try
        {
            if (_dir != null)
            {
                _ids.UnionWith(Podman("ps", "-a", "-q", "--no-trunc").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                // Each variant's own flags: a runtime-flag container is only reachable with its flags.
                foreach (var v in _variants.Keys) PodmanWith(v, "rm", "-a", "-f", "-t", "0");
            }
        }
        finally
        {
            Leftovers.KillProcessesOfContainers(_ids);
            if (_dir != null) ForgetRuntimeState();
            _dir?.Dispose();
        }
    }

    CmdResult Podman(params string[] args) => Cmd.Run("/usr/bin/podman",
    [
        "--root", _dir.Sub("root"), "--runroot", _dir.Sub("run"), "--tmpdir", _dir.Sub("tmp"),
        "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "file", .. args,
    ], null, TimeSpan.FromSeconds(90));

    CmdResult PodmanWith(string variant, params string[] args) => Podman([.. _variants[variant].RuntimeArgs, .. args]);

    string StartWriter(string variant)
    {
        var id = PodmanWith(variant, ["run", "-d", .. RunFlags, Image, "sh", "-c", Snapshot.WriterScript]).MustSucceed().Stdout.Trim();
        _ids.Add(id);
        // --runtime-flag flags last for one podman call: exec needs them again.
        Snapshot.WaitFor(() => PodmanWith(variant, "exec", id, "cat", "/dir/file").Stdout.Trim() == "hello", $"{id} to write /dir/file");
        return id;
    }

    /// <summary>Ids of every container this fixture made, for the last-resort cleanup.</summary>
    readonly HashSet<string> _ids = new();

    /// <summary>podman runs runtimes without --root, so their state lives in the machine-wide default roots;
    /// a container whose delete went astray (the --runtime-flag form) stays there, found by its bundle.</summary>
    void ForgetRuntimeState()
    {
        foreach (var (runtime, root) in new[] { (E2EEnv.Runc, "/run/runc"), (E2EEnv.Runsc, "/var/run/runsc") })
        {
            var global = runtime == E2EEnv.Runsc ? new[] { "--network=none", "--root", root } : ["--root", root];
            var list = Cmd.Run(runtime, [.. global, "list", "--format", "json"]);
            if (list.ExitCode != 0 || string.IsNullOrWhiteSpace(list.Stdout) || list.Stdout.Trim() == "null") continue;
            foreach (var c in Newtonsoft.Json.Linq.JArray.Parse(list.Stdout))
                if (((string?)c["bundle"] ?? "").StartsWith(_dir.Path + "/", StringComparison.Ordinal))
                {
                    TestContext.Progress.WriteLine($"e2e: {runtime} still knows {c["id"]} ({c["status"]}); deleting it");
                    Cmd.Run(runtime, [.. global, "delete", "--force", (string)c["id"]!]);
                }
        }
    }

    void Remove(string variant, string id)
    {
        if (PodmanWith(variant, "rm", "-f", "-t", "0", id).ExitCode != 0) Podman("rm", "-f", "-t", "0", id);
    }

    [Test]
    public void PlainRuncRunsTheImage()
    {
        var r = Podman(["--runtime", E2EEnv.Runc, "run", "--rm", .. RunFlags, Image, "echo", "rig-ok"]);
        Assert.That(r.Stdout.Trim(), Is.EqualTo("rig-ok"), r.ToString());
    }

    [TestCase("runsc-wrapper")]
    [TestCase("runc-wrapper")]
    [TestCase("runc-flags")]
    public void SnapshotRoundTrip(string variant)
    {
        var id = StartWriter(variant);
        try
        {
            var snap = _dir.Sub($"snap-{variant}.tar");
            // podman passes no --root: the runtime's default root, which csshim's default agrees with.
            var v = _variants[variant];
            var tar = Cmd.Run(_csshim, [.. v.TarArgs, "tar", "rootfs-upper", "--file", snap, id], v.TarEnv);
            Assert.That(tar.ExitCode, Is.EqualTo(0), tar.ToString());
            Snapshot.AssertHoldsDirFile(snap);

            var restored = PodmanWith(variant, ["run", "--rm", .. RunFlags, "--annotation", "dev.gvisor.tar.rootfs.upper=" + snap,
                Image, "cat", "/dir/file"]);
            Assert.That(restored.Stdout.Trim(), Is.EqualTo("hello"), restored.ToString());
        }
        finally { Remove(variant, id); }
    }

    [TestCase("runsc-wrapper")]
    [TestCase("runc-wrapper")]
    public void ExecWithoutTty(string variant)
    {
        var id = StartWriter(variant);
        try
        {
            var r = Podman("exec", id, "cat", "/dir/file");
            Assert.That(r.Stdout, Is.EqualTo("hello\n"), r.ToString());
        }
        finally { Remove(variant, id); }
    }

    /// <summary>conmon calls `exec --tty --console-socket S`; runc knows --tty, Debian's runsc does not.</summary>
    [TestCase("runsc-wrapper")]
    [TestCase("runc-wrapper")]
    public void ExecWithTty(string variant)
    {
        var id = StartWriter(variant);
        try
        {
            var r = Podman("exec", "-t", id, "cat", "/dir/file");
            Assert.That(r.Stdout, Is.EqualTo("hello\r\n"), r.ToString());
        }
        finally { Remove(variant, id); }
    }

    // Not "runc-flags": conmon's exit command (`podman container cleanup`) calls `delete` without the
    // --runtime-flag flags, racing podman rm's own delete; when it wins, csshim looks in its default state dir with
    // its default runtime and the runc container and its staging stay behind (a documented limitation).
    [TestCase("runsc-wrapper")]
    [TestCase("runc-wrapper")]
    public void RemoveUnstages(string variant)
    {
        var id = StartWriter(variant);
        try
        {
            Assert.That(StagingsOf(id), Is.Not.Empty, $"csshim should have staged {id}");
            PodmanWith(variant, "rm", "-f", "-t", "1", id).MustSucceed();
            Assert.That(StagingsOf(id), Is.Empty, "podman rm must unstage");
        }
        finally { Remove(variant, id); }
    }

    [TestCase("runsc-wrapper")]
    [TestCase("runc-wrapper")]
    public void MissingArchiveFailsWithCsshimMessage(string variant)
    {
        var missing = _dir.Sub("does-not-exist.tar");
        var r = PodmanWith(variant, ["run", "--rm", .. RunFlags, "--annotation", "dev.gvisor.tar.rootfs.upper=" + missing, Image, "true"]);
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Contain("csshim:").And.Contain(missing), r.ToString());
        Assert.That(Leftovers.MountsUnder(_state), Is.Empty, "a refused create must unwind its mounts");
    }

    /// <summary>podman's rootfs is an overlay of its storage, so csshim restores in place: `podman restart` (delete +
    /// create through conmon) keeps the restored file as the container changed it and the container's own writes.</summary>
    [TestCase("runsc-wrapper")]
    [TestCase("runc-wrapper")]
    public void RestartKeepsTheRestoredFilesAndTheWrites(string variant)
    {
        var writer = StartWriter(variant);
        var snap = _dir.Sub($"restart-{variant}.tar");
        var v = _variants[variant];
        Cmd.Run(_csshim, [.. v.TarArgs, "tar", "rootfs-upper", "--file", snap, writer], v.TarEnv).MustSucceed();
        Remove(variant, writer);

        var id = PodmanWith(variant, ["run", "-d", .. RunFlags, "--annotation", "dev.gvisor.tar.rootfs.upper=" + snap,
            Image, "sleep", "1000"]).MustSucceed().Stdout.Trim();
        _ids.Add(id);
        try
        {
            PodmanWith(variant, "exec", id, "sh", "-c", "echo changed > /dir/file; echo new > /later").MustSucceed();
            PodmanWith(variant, "restart", "-t", "1", id).MustSucceed();
            Assert.That(PodmanWith(variant, "exec", id, "cat", "/dir/file", "/later").Stdout, Is.EqualTo("changed\nnew\n"),
                "after podman restart");
        }
        finally { Remove(variant, id); }
    }

    List<string> StagingsOf(string id) =>
        Directory.EnumerateDirectories(_state, id, SearchOption.AllDirectories).ToList();
}
