using Csshim.E2E.Rig;

namespace Csshim.E2E;

/// <summary>containerd 1.6 (bookworm) + ctr, private daemon (own root, state, socket, CRI plugin off), csshim as
/// the runc binary of the io.containerd.runc.v2 shim. That shim has no runtime-args option, so csshim reads its
/// settings from CSSHIM_CONFIG: set in containerd's environment (the shim and the runtime inherit it), or baked
/// into a wrapper script used as the binary.</summary>
[TestFixture, Category("E2E"), NonParallelizable]
public sealed class ContainerdTests
{
    const string Image = "docker.io/library/bb:latest";
    PrivateDir _dir = null!;
    Daemon? _containerd;
    string _csshim = null!;
    string _sock = null!;
    string _state = null!;
    string _config = null!;
    string _envConfig = null!;
    readonly string _ns = "e2e" + Guid.NewGuid().ToString("N")[..8];
    readonly Dictionary<string, string> _snapshots = new();
    readonly List<string> _started = new();

    /// <summary>Binary name for ctr → the csshim config file that binary ends up using.</summary>
    readonly Dictionary<string, (string Binary, string Config)> _variants = new();

    /// <summary>containerd's runc shim runs the runtime with --root /run/containerd/runc/&lt;namespace&gt;.</summary>
    string RuntimeRoot => $"/run/containerd/runc/{_ns}";

    [OneTimeSetUp]
    public void StartContainerd()
    {
        E2EEnv.RequireRoot();
        E2EEnv.RequireExecutable("/usr/bin/containerd", "apt-get install containerd (test/tools/fetch-clients.sh)");
        _csshim = E2EEnv.RequireCsshim();
        _dir = new PrivateDir("ctd");
        _state = _dir.Dir("csshim-state");
        _sock = _dir.Sub("containerd.sock");

        _envConfig = ShimConfig.Write(_dir.Sub("csshim-runsc.json"), E2EEnv.Runsc, _state);
        var runcConfig = ShimConfig.Write(_dir.Sub("csshim-runc.json"), E2EEnv.Runc, _state);
        _variants["runsc-env"] = (_csshim, _envConfig);
        _variants["runc-wrapper"] = (ShimConfig.Wrapper(_dir.Sub("csshim-runc"), _csshim, runcConfig), runcConfig);

        _config = _dir.Sub("config.toml");
        File.WriteAllText(_config, $"""
            version = 2
            root = "{_dir.Sub("root")}"
            state = "{_dir.Sub("state")}"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "{_sock}"
            [ttrpc]
              address = "{_sock}.ttrpc"
            [debug]
              address = ""

            """);
        Cmd.Run(_csshim, "install", "--containerd-config", _config, "--name", "csshim").MustSucceed();

        _containerd = Daemon.Start("containerd", _dir.Sub("containerd.log"), ["/usr/bin/containerd", "--config", _config],
            new Dictionary<string, string> { ["CSSHIM_CONFIG"] = _envConfig });
        _containerd.WaitReady(() => File.Exists(_sock) && Ctr("version").ExitCode == 0, TimeSpan.FromSeconds(30));
        var rootfs = BusyboxImage.RootfsTar(_dir.Path);
        Ctr("image", "import", BusyboxImage.OciArchive(_dir.Path, rootfs, Image)).MustSucceed();
    }

    [OneTimeTearDown]
    public void StopContainerd()
    {
        try
        {
            if (_containerd is { Alive: true })
                foreach (var id in Ctr("container", "ls", "-q").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    RemoveContainer(id);
        }
        finally
        {
            _containerd?.Dispose();
            Leftovers.KillProcessesOfContainers(_started);
            _dir?.Dispose();
            Leftovers.UnmountUnder(RuntimeRoot);
            if (Directory.Exists(RuntimeRoot)) Directory.Delete(RuntimeRoot, recursive: true);
        }
    }

    CmdResult Ctr(params string[] args) => Cmd.Run("/usr/bin/ctr", ["-a", _sock, "-n", _ns, .. args], null, TimeSpan.FromSeconds(90));

    void RemoveContainer(string id)
    {
        Ctr("task", "kill", "-s", "KILL", id);
        for (var i = 0; i < 50 && Ctr("task", "rm", id).ExitCode != 0 && Ctr("task", "ls", "-q").Stdout.Contains(id); i++)
            Thread.Sleep(100);
        Ctr("task", "rm", "-f", id);
        Ctr("container", "rm", id);
    }

    /// <summary>Container ids are unique per run so that the cgroup-based last-resort cleanup can find them.</summary>
    string NewId(string what)
    {
        var id = $"{what}-{Guid.NewGuid():N}"[..24];
        _started.Add(id);
        return id;
    }

    string StartWriter(string variant)
    {
        var id = NewId("w");
        Ctr("run", "-d", "--runc-binary", _variants[variant].Binary, Image, id, "sh", "-c", Snapshot.WriterScript).MustSucceed();
        Snapshot.WaitFor(() => Ctr("task", "exec", "--exec-id", NewId("x"), id, "cat", "/dir/file").Stdout.Trim() == "hello",
            $"{id} to write /dir/file");
        return id;
    }

    CmdResult RunOnce(string binary, IEnumerable<string> annotations, params string[] command)
    {
        var id = NewId("r");
        try
        {
            return Ctr(["run", "--rm", "--runc-binary", binary, .. annotations.SelectMany(a => new[] { "--annotation", a }), Image, id, .. command]);
        }
        finally { RemoveContainer(id); }
    }

    /// <summary>One snapshot per variant, taken from a live writer container with `csshim tar rootfs-upper`.</summary>
    string SnapshotOf(string variant)
    {
        if (_snapshots.TryGetValue(variant, out var done)) return done;
        var id = StartWriter(variant);
        try
        {
            var snap = _dir.Sub($"snap-{variant}.tar");
            var tar = Cmd.Run(_csshim, ["--root", RuntimeRoot, "tar", "rootfs-upper", "--file", snap, id],
                new Dictionary<string, string> { ["CSSHIM_CONFIG"] = _variants[variant].Config });
            Assert.That(tar.ExitCode, Is.EqualTo(0), tar.ToString());
            Snapshot.AssertHoldsDirFile(snap);
            return _snapshots[variant] = snap;
        }
        finally { RemoveContainer(id); }
    }

    [Test]
    public void PlainRuncRunsTheImage()
    {
        var r = RunOnce(E2EEnv.Runc, [], "echo", "rig-ok");
        Assert.That(r.Stdout.Trim(), Is.EqualTo("rig-ok"), r.ToString());
    }

    [TestCase("runsc-env")]
    [TestCase("runc-wrapper")]
    public void SnapshotRoundTrip(string variant)
    {
        var snap = SnapshotOf(variant);
        var without = RunOnce(_variants[variant].Binary, [], "cat", "/dir/file");
        Assert.That(without.ExitCode, Is.Not.EqualTo(0), "a fresh container must not have /dir/file: " + without);
        var restored = RunOnce(_variants[variant].Binary, ["dev.gvisor.tar.rootfs.upper=" + snap], "cat", "/dir/file");
        Assert.That(restored.Stdout.Trim(), Is.EqualTo("hello"), restored.ToString());
    }

    /// <summary>The env-config variant must really run on runsc: the runtime named in CSSHIM_CONFIG reached the
    /// shim through containerd's environment.</summary>
    [Test]
    public void ContainerdEnvironmentReachesCsshim()
    {
        var id = StartWriter("runsc-env");
        try
        {
            var sandboxes = Leftovers.ProcessesMentioning(id).Select(Leftovers.CommandLine).Where(c => c.StartsWith("runsc-sandbox"));
            Assert.That(sandboxes, Is.Not.Empty, "expected a runsc sandbox for " + id);
        }
        finally { RemoveContainer(id); }
    }

    [TestCase("runsc-env")]
    [TestCase("runc-wrapper")]
    public void CriPerContainerAnnotation(string variant)
    {
        var snap = SnapshotOf(variant);
        var binary = _variants[variant].Binary;
        var byName = RunOnce(binary, ["io.kubernetes.cri.container-name=web", "dev.gvisor.tar.rootfs.upper.web=" + snap], "cat", "/dir/file");
        Assert.That(byName.Stdout.Trim(), Is.EqualTo("hello"), byName.ToString());
        // With a container name only the per-name key counts: the generic key is ignored.
        var generic = RunOnce(binary, ["io.kubernetes.cri.container-name=web", "dev.gvisor.tar.rootfs.upper=" + snap], "cat", "/dir/file");
        Assert.That(generic.ExitCode, Is.Not.EqualTo(0), generic.ToString());
        var otherName = RunOnce(binary, ["io.kubernetes.cri.container-name=db", "dev.gvisor.tar.rootfs.upper.web=" + snap], "cat", "/dir/file");
        Assert.That(otherName.ExitCode, Is.Not.EqualTo(0), otherName.ToString());
    }

    /// <summary>The form a Kubernetes RuntimeClass uses: `csshim install --containerd-config` adds a runtime with
    /// runtime_type io.containerd.runc.v2 and options.BinaryName; containerd accepts the file, and that
    /// BinaryName is exactly what ctr's --runc-binary puts in the task options.</summary>
    [Test]
    public void ConfiguredRuntimeEntry()
    {
        // The private daemon runs with the CRI plugin off, and `config dump` leaves out disabled plugins' tables:
        // dump a copy with it on to see containerd's reading of the entry.
        var withCri = _dir.Sub("config-cri.toml");
        File.WriteAllLines(withCri, File.ReadAllLines(_config).Where(l => !l.StartsWith("disabled_plugins")));
        var dump = Cmd.Run("/usr/bin/containerd", "--config", withCri, "config", "dump").MustSucceed().Stdout;
        Assert.That(dump, Does.Contain("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.csshim]"), dump);
        Assert.That(dump, Does.Contain("runtime_type = \"io.containerd.runc.v2\""));
        Assert.That(dump, Does.Contain($"BinaryName = \"{_csshim}\""));

        var id = StartWriter("runsc-env");
        try
        {
            var options = File.ReadAllText(_dir.Sub("state", "io.containerd.runtime.v2.task", _ns, id, "options.json"));
            Assert.That(options, Does.Contain($"\"binary_name\":\"{_csshim}\""));
        }
        finally { RemoveContainer(id); }
    }

    [Test]
    public void TaskExecAndKillUnstage()
    {
        var id = StartWriter("runsc-env");
        try
        {
            var exec = Ctr("task", "exec", "--exec-id", "e1", id, "cat", "/dir/file");
            Assert.That(exec.Stdout, Is.EqualTo("hello\n"), exec.ToString());
            Assert.That(StagingsOf(id), Is.Not.Empty, $"csshim should have staged {id}");
            Ctr("task", "kill", "-s", "KILL", id).MustSucceed();
            Snapshot.WaitFor(() => Ctr("task", "rm", id).ExitCode == 0, $"task {id} to be removable");
            Ctr("container", "rm", id).MustSucceed();
            Assert.That(StagingsOf(id), Is.Empty, "task rm must unstage");
        }
        finally { RemoveContainer(id); }
    }

    [TestCase("runsc-env")]
    [TestCase("runc-wrapper")]
    public void MissingArchiveFailsWithCsshimMessage(string variant)
    {
        var missing = _dir.Sub("does-not-exist.tar");
        var r = RunOnce(_variants[variant].Binary, ["dev.gvisor.tar.rootfs.upper=" + missing], "true");
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), r.ToString());
        Assert.That(r.Stderr, Does.Contain("csshim:").And.Contain(missing), r.ToString());
        Assert.That(Leftovers.MountsUnder(_state), Is.Empty, "a refused create must unwind its mounts");
    }

    /// <summary>A new task of the same container (ctr's equivalent of a restart) runs on the same snapshotter layer,
    /// which csshim restored in place: the restored file as the first task changed it and its writes are kept.</summary>
    [TestCase("runsc-env")]
    [TestCase("runc-wrapper")]
    public void ANewTaskKeepsTheRestoredFilesAndTheWrites(string variant)
    {
        var snap = SnapshotOf(variant);
        var id = NewId("t");
        try
        {
            // ctr run makes the container (its runtime options keep the binary) and its first task.
            Ctr("run", "-d", "--runc-binary", _variants[variant].Binary, "--annotation", "dev.gvisor.tar.rootfs.upper=" + snap,
                Image, id, "sleep", "1000").MustSucceed();
            Ctr("task", "exec", "--exec-id", NewId("x"), id, "sh", "-c", "echo changed > /dir/file; echo new > /later").MustSucceed();
            Ctr("task", "kill", "-s", "KILL", id).MustSucceed();
            Snapshot.WaitFor(() => Ctr("task", "rm", id).ExitCode == 0, $"task {id} to be removable");
            Ctr("task", "start", "-d", id).MustSucceed();
            var r = Ctr("task", "exec", "--exec-id", NewId("x"), id, "cat", "/dir/file", "/later");
            Assert.That(r.Stdout, Is.EqualTo("changed\nnew\n"), "in the second task: " + r);
        }
        finally { RemoveContainer(id); }
    }

    List<string> StagingsOf(string id) =>
        Directory.EnumerateDirectories(_state, id, SearchOption.AllDirectories).ToList();
}
