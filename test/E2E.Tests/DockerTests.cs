using Csshim.E2E.Rig;
using Newtonsoft.Json.Linq;

namespace Csshim.E2E;

/// <summary>Docker 26.1.5 (trixie's, fetched by test/tools/fetch-clients.sh) with a private dockerd whose
/// daemon.json gets its csshim runtimes from `csshim install --docker-config`.</summary>
[TestFixture, Category("E2E"), NonParallelizable]
public sealed class DockerTests
{
    const string Image = DockerDaemon.Image;
    DockerDaemon _docker = null!;

    [OneTimeSetUp]
    public void StartDockerd() => _docker = new DockerDaemon("docker", new Dictionary<string, string[]>
    {
        ["csshim"] = ["--network=none", "--allow-rootfs-tar-annotation", "--shim-runtime", E2EEnv.Runsc],
        ["csshim-runc"] = ["--allow-rootfs-tar-annotation", "--shim-runtime", E2EEnv.Runc],
        ["csshim-noallow"] = ["--network=none", "--shim-runtime", E2EEnv.Runsc],
    });

    [OneTimeTearDown]
    public void StopDockerd() => _docker?.Dispose();

    CmdResult Docker(params string[] args) => _docker.Docker(args);

    PrivateDir _dir => _docker.Dir;

    string StartWriter(string runtime)
    {
        var id = _docker.RunDetached("--runtime=" + runtime, Image, "sh", "-c", Snapshot.WriterScript);
        Snapshot.WaitFor(() => Docker("exec", id, "cat", "/dir/file").Stdout.Trim() == "hello", $"{id} to write /dir/file");
        return id;
    }

    CmdResult TarUpper(string runtime, string id, string file) => _docker.TarUpper(runtime, id, file);

    void Remove(string idOrName) => _docker.Remove(idOrName);

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
            Assert.That(StagingsOf(id), Is.Not.Empty, $"csshim should have staged {id} under {_docker.StateDir}");
            Docker("stop", "-t", "2", id).MustSucceed();
            Assert.That(Docker("inspect", "-f", "{{.State.Running}}", id).Stdout.Trim(), Is.EqualTo("false"));
            Docker("rm", id).MustSucceed();
            Assert.That(StagingsOf(id), Is.Empty, "docker rm must leave no staging behind");
            Assert.That(Leftovers.MountsUnder(_docker.StateDir).Where(m => m.Contains(id)), Is.Empty, "no mount of the container may remain");
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

    List<string> StagingsOf(string id) => _docker.StagingsOf(id);
}
