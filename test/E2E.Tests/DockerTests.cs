using Csshim.E2E.Rig;
using Newtonsoft.Json.Linq;

namespace Csshim.E2E;

/// <summary>Docker 26.1.5 (trixie's, fetched by test/tools/fetch-clients.sh) with a private dockerd whose
/// daemon.json gets its csshim runtimes from `csshim install --docker-config`.</summary>
[TestFixture, Category("E2E"), NonParallelizable]
public sealed class DockerTests
{
    const string Image = "bb";
    PrivateDir _dir = null!;
    Daemon? _dockerd;
    string _csshim = null!;
    string _sock = null!;
    string _state = null!;
    readonly Dictionary<string, string> _env = new();
    readonly List<string> _ids = new();

    /// <summary>Docker runtime name → the runtimeArgs installed for it (also needed by a `tar rootfs-upper` by hand).</summary>
    readonly Dictionary<string, string[]> _runtimeArgs = new();

    [OneTimeSetUp]
    public void StartDockerd()
    {
        E2EEnv.RequireRoot();
        E2EEnv.RequireExecutable(E2EEnv.Dockerd, "run test/tools/fetch-clients.sh (Docker 26 from trixie)");
        _csshim = E2EEnv.RequireCsshim();
        _dir = new PrivateDir("docker");
        _state = _dir.Dir("csshim-state");
        _sock = _dir.Sub("docker.sock");
        _env["PATH"] = $"{E2EEnv.Docker26Dir}/usr/bin:{E2EEnv.Docker26Dir}/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

        _runtimeArgs["csshim"] = ["--network=none", "--allow-rootfs-tar-annotation", "--shim-state-dir", _state, "--shim-runtime", E2EEnv.Runsc];
        _runtimeArgs["csshim-runc"] = ["--allow-rootfs-tar-annotation", "--shim-state-dir", _state, "--shim-runtime", E2EEnv.Runc];
        _runtimeArgs["csshim-noallow"] = ["--network=none", "--shim-state-dir", _state, "--shim-runtime", E2EEnv.Runsc];
        var daemonJson = _dir.Sub("daemon.json");
        File.WriteAllText(daemonJson, "{}\n");
        foreach (var (name, args) in _runtimeArgs)
            Cmd.Run(_csshim, ["install", "--docker-config", daemonJson, "--name", name, "--", .. args]).MustSucceed();
        var config = JObject.Parse(File.ReadAllText(daemonJson));
        var runtimes = (JObject)config["runtimes"]!;
        Assert.That(runtimes.Properties().Select(p => p.Name), Is.SupersetOf(_runtimeArgs.Keys));
        // runsc without csshim: tells a rig or runsc problem apart from a csshim one.
        runtimes["runsc-raw"] = new JObject { ["path"] = E2EEnv.Runsc, ["runtimeArgs"] = new JArray("--network=none") };
        File.WriteAllText(daemonJson, config.ToString());

        _dockerd = Daemon.Start("dockerd", _dir.Sub("dockerd.log"),
        [
            E2EEnv.Dockerd, "--config-file", daemonJson, "--data-root", _dir.Sub("root"), "--exec-root", _dir.Sub("exec"),
            "--pidfile", _dir.Sub("dockerd.pid"), "-H", "unix://" + _sock,
            "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
        ], _env);
        _dockerd.WaitReady(() => File.Exists(_sock) && Docker("info").ExitCode == 0, TimeSpan.FromSeconds(60));
        Docker("import", BusyboxImage.RootfsTar(_dir.Path), Image).MustSucceed();
    }

    [OneTimeTearDown]
    public void StopDockerd()
    {
        try
        {
            if (_dockerd is { Alive: true })
            {
                _ids.AddRange(Docker("ps", "-aq", "--no-trunc").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                if (_ids.Count > 0) Docker(["rm", "-f", .. _ids]);
            }
        }
        finally
        {
            Leftovers.KillProcessesOfContainers(_ids);
            _dockerd?.Dispose();
            _dir?.Dispose();
        }
    }

    CmdResult Docker(params string[] args) =>
        Cmd.Run(E2EEnv.DockerCli, ["-H", "unix://" + _sock, .. args], _env, TimeSpan.FromSeconds(90));

    string StartWriter(string runtime)
    {
        var id = Docker("run", "-d", "--runtime=" + runtime, Image, "sh", "-c", Snapshot.WriterScript).MustSucceed().Stdout.Trim();
        Snapshot.WaitFor(() => Docker("exec", id, "cat", "/dir/file").Stdout.Trim() == "hello", $"{id} to write /dir/file");
        return id;
    }

    /// <summary>Docker 26 gives every runc-shim runtime the same root, &lt;exec-root&gt;/runtime-runc (plus the
    /// namespace, moby), whatever the runtime's name; the shim records it in the task's options.json.</summary>
    string RuntimeRoot(string id)
    {
        var options = _dir.Sub("exec", "containerd", "daemon", "io.containerd.runtime.v2.task", "moby", id, "options.json");
        var root = (string?)JObject.Parse(File.ReadAllText(options))["root"];
        Assert.That(root, Is.Not.Null, $"no root in {options}");
        return Path.Combine(root!, "moby");
    }

    CmdResult TarUpper(string runtime, string id, string file) =>
        Cmd.Run(_csshim, ["--root", RuntimeRoot(id), .. _runtimeArgs[runtime], "tar", "rootfs-upper", "--file", file, id]);

    void Remove(string idOrName) => Docker("rm", "-f", idOrName);

    [TestCase("runc")]
    [TestCase("runsc-raw")]
    public void PlainRuntimeRunsTheImage(string runtime)
    {
        var r = Docker("run", "--rm", "--runtime=" + runtime, Image, "echo", "rig-ok");
        Assert.That(r.Stdout.Trim(), Is.EqualTo("rig-ok"), r.ToString());
    }

    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void SnapshotRoundTrip(string runtime)
    {
        var id = StartWriter(runtime);
        try
        {
            var snap = _dir.Sub($"snap-{runtime}.tar");
            var tar = TarUpper(runtime, id, snap);
            Assert.That(tar.ExitCode, Is.EqualTo(0), tar.ToString());
            Snapshot.AssertHoldsDirFile(snap);

            var without = Docker("run", "--rm", "--runtime=" + runtime, Image, "cat", "/dir/file");
            Assert.That(without.ExitCode, Is.Not.EqualTo(0), "a fresh container must not have /dir/file: " + without);
            var restored = Docker("run", "--rm", "--runtime=" + runtime,
                "--annotation", "dev.gvisor.tar.rootfs.upper=" + snap, Image, "cat", "/dir/file");
            Assert.That(restored.ExitCode, Is.EqualTo(0), restored.ToString());
            Assert.That(restored.Stdout.Trim(), Is.EqualTo("hello"), restored.ToString());
        }
        finally { Remove(id); }
    }

    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void ExecWithAndWithoutTty(string runtime)
    {
        var id = StartWriter(runtime);
        try
        {
            var plain = Docker("exec", id, "cat", "/dir/file");
            Assert.That(plain.Stdout, Is.EqualTo("hello\n"), plain.ToString());
            var tty = Docker("exec", "-t", id, "cat", "/dir/file");
            // A terminal turns \n into \r\n: proof that the exec really got a pty.
            Assert.That(tty.Stdout, Is.EqualTo("hello\r\n"), tty.ToString());
        }
        finally { Remove(id); }
    }

    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void StopThenRemoveUnstages(string runtime)
    {
        var id = StartWriter(runtime);
        try
        {
            Assert.That(StagingsOf(id), Is.Not.Empty, $"csshim should have staged {id} under {_state}");
            Docker("stop", "-t", "2", id).MustSucceed();
            Assert.That(Docker("inspect", "-f", "{{.State.Running}}", id).Stdout.Trim(), Is.EqualTo("false"));
            Docker("rm", id).MustSucceed();
            Assert.That(StagingsOf(id), Is.Empty, "docker rm must leave no staging behind");
            Assert.That(Leftovers.MountsUnder(_state).Where(m => m.Contains(id)), Is.Empty, "no mount of the container may remain");
        }
        finally { Remove(id); }
    }

    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void MissingArchiveFailsRunWithCsshimMessage(string runtime) =>
        AssertRefused(runtime, _dir.Sub("does-not-exist.tar"), "csshim:");

    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void GarbageArchiveFailsRunWithCsshimMessage(string runtime) =>
        AssertRefused(runtime, Snapshot.Garbage(_dir.Path), "csshim:");

    [Test]
    public void AnnotationRefusedWithoutAllowFlag() =>
        AssertRefused("csshim-noallow", _dir.Sub("any.tar"), "rootfs tar annotation is disabled");

    /// <summary>A start that fails (no such executable) after a successful create: the runtime's sandbox and
    /// csshim's staging must both be gone once Docker has removed the container.</summary>
    [TestCase("csshim")]
    [TestCase("csshim-runc")]
    public void FailedStartLeavesNothingBehind(string runtime)
    {
        var name = $"badstart-{runtime}-{Guid.NewGuid():N}"[..40];
        string? id = null;
        try
        {
            var r = Docker("run", "--name", name, "--runtime=" + runtime, Image, "/no/such/program");
            Assert.That(r.ExitCode, Is.Not.EqualTo(0), r.ToString());
            id = Docker("inspect", "-f", "{{.Id}}", name).MustSucceed().Stdout.Trim();
            Docker("rm", "-f", name).MustSucceed();
            Snapshot.WaitFor(() => !Leftovers.ProcessesMentioning(id).Any(), $"processes of {id} to exit", TimeSpan.FromSeconds(10));
            Assert.That(StagingsOf(id), Is.Empty, "the staging of a container whose start failed must go with it");
        }
        finally { Remove(name); }
        Assert.That(Leftovers.ProcessesMentioning(id).Select(Leftovers.CommandLine), Is.Empty,
            "processes of the container after docker rm");
    }

    void AssertRefused(string runtime, string archive, string message)
    {
        var name = $"refused-{runtime}-{Guid.NewGuid():N}"[..40];
        try
        {
            var r = Docker("run", "--name", name, "--runtime=" + runtime,
                "--annotation", "dev.gvisor.tar.rootfs.upper=" + archive, Image, "true");
            Assert.That(r.ExitCode, Is.Not.EqualTo(0), r.ToString());
            Assert.That(r.Stderr, Does.Contain(message), r.ToString());
            var id = Docker("inspect", "-f", "{{.Id}}", name).MustSucceed().Stdout.Trim();
            Assert.That(StagingsOf(id), Is.Empty, "a refused create must unwind its staging");
            Assert.That(Leftovers.ProcessesMentioning(id).Select(Leftovers.CommandLine), Is.Empty,
                "a refused create must leave no runtime process (sandbox, gofer) behind");
        }
        finally { Remove(name); }
    }

    List<string> StagingsOf(string id) =>
        Directory.Exists(_state)
            ? Directory.EnumerateDirectories(_state, id, SearchOption.AllDirectories).ToList()
            : [];
}
