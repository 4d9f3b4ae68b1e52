using System.Diagnostics;

namespace Csshim.Tests;

/// <summary>`csshim install` run as the real binary against Docker/containerd config files in a temp dir.</summary>
[TestFixture]
public class InstallTests
{
    private string dir = "";
    private string bin = "";
    private string self = "";

    private string Daemon => Path.Combine(dir, "docker", "daemon.json");
    private string Toml => Path.Combine(dir, "containerd", "config.toml");

    [SetUp]
    public void SetUp()
    {
        bin = Csshim.Tests.Rig.CsshimBinary.Path;
        if (!File.Exists(bin)) Assert.Ignore($"csshim binary {bin} not built (set CSSHIM_BIN or run test.sh)");
        // csshim writes its own path as the kernel reports it (links resolved)
        self = new FileInfo(bin).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(bin);
        dir = Directory.CreateTempSubdirectory("csshim-install-").FullName;
    }

    [TearDown]
    public void TearDown()
    {
        if (dir.Length > 0) Directory.Delete(dir, recursive: true);
    }

    private (int Code, string Out, string Err) Install(params string[] args)
    {
        var psi = new ProcessStartInfo(bin) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("install");
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        Assert.That(p.WaitForExit(60_000), Is.True, "csshim install timed out");
        return (p.ExitCode, stdout.Result, stderr);
    }

    private JObject ReadDaemon() => JObject.Parse(File.ReadAllText(Daemon));

    private void WriteDaemon(string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Daemon)!);
        File.WriteAllText(Daemon, text);
    }

    [Test]
    public void CreatesDaemonJsonAndItsDirectory()
    {
        var (code, stdout, stderr) = Install("--docker-config", Daemon, "--", "--network=none");
        Assert.That(code, Is.EqualTo(0), stderr);
        var expected = new JObject
        {
            ["runtimes"] = new JObject { ["csshim"] = new JObject { ["path"] = self, ["runtimeArgs"] = new JArray("--network=none") } },
        };
        Assert.That(JToken.DeepEquals(ReadDaemon(), expected), Is.True, File.ReadAllText(Daemon));
        Assert.That(stdout, Does.Contain("add runtime \"csshim\"").And.Contain(Daemon));
        Assert.That(File.GetUnixFileMode(Daemon), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead));
    }

    [Test]
    public void MergesWithoutClobberingOtherKeysRuntimesOrFields()
    {
        const string original = """
            {
              "log-level": "warn",
              "default-runtime": "runc",
              "registry-mirrors": ["https://m.example"],
              "max-concurrent-downloads": 3,
              "org.example.ratio": 1.50, "org.example.huge": 1e300,
              "runtimes": {
                "runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=kvm"]},
                "csshim": {"path": "/old/csshim", "runtimeArgs": ["--debug"], "custom": {"x": 1}}
              }
            }
            """;
        WriteDaemon(original);
        File.SetUnixFileMode(Daemon, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var (code, stdout, stderr) = Install("--docker-config", Daemon);
        Assert.That(code, Is.EqualTo(0), stderr);

        var before = JObject.Parse(original);
        var after = ReadDaemon();
        foreach (var key in new[] { "log-level", "default-runtime", "registry-mirrors", "max-concurrent-downloads" })
            Assert.That(JToken.DeepEquals(before[key], after[key]), Is.True, key);
        Assert.That(JToken.DeepEquals(before["runtimes"]!["runsc"], after["runtimes"]!["runsc"]), Is.True, "other runtime kept");
        var entry = after["runtimes"]!["csshim"]!;
        Assert.That((string?)entry["path"], Is.EqualTo(self));
        Assert.That(JToken.DeepEquals(entry["runtimeArgs"], new JArray("--debug")), Is.True, "runtimeArgs kept without --");
        Assert.That(JToken.DeepEquals(entry["custom"], new JObject { ["x"] = 1 }), Is.True, "the entry's other fields kept");
        Assert.That(stdout, Does.Contain("update runtime \"csshim\"").And.Contain("/old/csshim"));
        Assert.That(File.ReadAllText(Daemon), Does.Contain("1.50").And.Contain("1e300"), "numbers keep their text");
        Assert.That(File.GetUnixFileMode(Daemon), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), "file mode kept");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(Daemon)!), Is.EqualTo(new[] { Daemon }), "no temp file left");
    }

    [Test]
    public void RuntimeArgsAfterTerminatorReplaceAndAnEmptyListRemoves()
    {
        WriteDaemon("""{"runtimes": {"csshim": {"path": "/x", "runtimeArgs": ["--debug"]}}}""");
        Assert.That(Install("--docker-config", Daemon, "--", "--network=none", "--overlay2=none").Code, Is.EqualTo(0));
        Assert.That(JToken.DeepEquals(ReadDaemon()["runtimes"]!["csshim"]!["runtimeArgs"], new JArray("--network=none", "--overlay2=none")), Is.True);
        Assert.That(Install("--docker-config", Daemon, "--").Code, Is.EqualTo(0));
        Assert.That(((JObject)ReadDaemon()["runtimes"]!["csshim"]!).ContainsKey("runtimeArgs"), Is.False);
    }

    [Test]
    public void SecondRunChangesNothing()
    {
        Assert.That(Install("--docker-config", Daemon, "--containerd-config", Toml, "--", "--network=none").Code, Is.EqualTo(0));
        var daemon = File.ReadAllBytes(Daemon);
        var toml = File.ReadAllBytes(Toml);
        var daemonTime = File.GetLastWriteTimeUtc(Daemon);
        var (code, stdout, stderr) = Install("--docker-config", Daemon, "--containerd-config", Toml, "--", "--network=none");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.ReadAllBytes(Daemon), Is.EqualTo(daemon));
        Assert.That(File.ReadAllBytes(Toml), Is.EqualTo(toml));
        Assert.That(File.GetLastWriteTimeUtc(Daemon), Is.EqualTo(daemonTime), "not rewritten");
        Assert.That(stdout, Does.Contain("already up to date").And.Contain("already present"));
    }

    [TestCase("{\"runtimes\": {")]
    [TestCase("{\"a\": 1, \"a\": 2}")]
    [TestCase("[1]")]
    [TestCase("{\"runtimes\": []}")]
    [TestCase("{\"runtimes\": {\"csshim\": \"/bin/x\"}}")]
    public void RefusesABadFileAndLeavesItUntouched(string text)
    {
        WriteDaemon(text);
        var (code, _, stderr) = Install("--docker-config", Daemon);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain(Daemon));
        Assert.That(File.ReadAllText(Daemon), Is.EqualTo(text));
    }

    [Test]
    public void EmptyFileCountsAsEmptyObject()
    {
        WriteDaemon("\n");
        Assert.That(Install("--docker-config", Daemon).Code, Is.EqualTo(0));
        Assert.That((string?)ReadDaemon()["runtimes"]!["csshim"]!["path"], Is.EqualTo(self));
    }

    [Test]
    public void DryRunWritesNothing()
    {
        var (code, stdout, stderr) = Install("--docker-config", Daemon, "--containerd-config", Toml, "--dry-run");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.Exists(Daemon), Is.False);
        Assert.That(File.Exists(Toml), Is.False);
        Assert.That(stdout, Does.Contain("would add runtime").And.Contain("would append"));
    }

    [Test]
    public void NameOption()
    {
        var (code, stdout, stderr) = Install("--docker-config", Daemon, "--name=snap");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That((string?)ReadDaemon()["runtimes"]!["snap"]!["path"], Is.EqualTo(self));
        Assert.That(stdout, Does.Contain("runtimes.snap]"), "the containerd snippet uses the name");
    }

    [Test]
    public void PrintsTheContainerdSnippet()
    {
        var (code, stdout, stderr) = Install("--docker-config", Daemon);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.csshim]"));
        Assert.That(stdout, Does.Contain("runtime_type = \"io.containerd.runc.v2\""));
        Assert.That(stdout, Does.Contain($"BinaryName = \"{self}\""));
    }

    [Test]
    public void AppendsToAnExistingContainerdConfigKeepingIt()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Toml)!);
        const string original = "# operator's file\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"runc\"";
        File.WriteAllText(Toml, original);
        var (code, _, stderr) = Install("--docker-config", Daemon, "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(0), stderr);
        var text = File.ReadAllText(Toml);
        Assert.That(text, Does.StartWith(original));
        Assert.That(text, Does.Contain($"BinaryName = \"{self}\""));
        Assert.That(ContainerdDump(Toml), Does.Contain($"BinaryName = \"{self}\""), "containerd itself reads the table");
    }

    [Test]
    public void CreatedContainerdConfigIsReadByContainerd()
    {
        var (code, _, stderr) = Install("--docker-config", Daemon, "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(0), stderr);
        var dump = ContainerdDump(Toml);
        Assert.That(dump, Does.Contain("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.csshim]"));
        Assert.That(dump, Does.Contain($"BinaryName = \"{self}\""));
    }

    [Test]
    public void RefusesAContainerdTableOfTheSameNameWithOtherContent()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Toml)!);
        var original = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.csshim]\n  runtime_type = \"io.containerd.runc.v2\"\n" +
                       "[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.csshim.options]\n  BinaryName = \"/somewhere/else\"\n";
        File.WriteAllText(Toml, original);
        var (code, _, stderr) = Install("--docker-config", Daemon, "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain(Toml).And.Contain("/somewhere/else"));
        Assert.That(File.ReadAllText(Toml), Is.EqualTo(original));
    }

    [TestCase("--bogus")]
    [TestCase("--network=none")]
    [TestCase("stray")]
    [TestCase("--name=bad/name")]
    public void UsageErrorsExit2(string arg)
    {
        var (code, _, stderr) = Install("--docker-config", Daemon, arg);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain("usage"));
        Assert.That(File.Exists(Daemon), Is.False);
    }

    [Test]
    public void NoDockerLeavesDockerAlone()
    {
        var (code, stdout, stderr) = Install("--no-docker", "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(Directory.Exists(Path.GetDirectoryName(Daemon)), Is.False);
        Assert.That(stdout, Does.Contain("docker: skipped"));
        Assert.That(File.ReadAllText(Toml), Does.Contain($"BinaryName = \"{self}\""));
        Assert.That(Install("--no-docker", "--docker-config", Daemon).Code, Is.EqualTo(2), "contradictory options");
    }

    [Test]
    public void Help()
    {
        var (code, stdout, _) = Install("--help");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stdout, Does.Contain("--docker-config"));
    }

    private static string ContainerdDump(string config)
    {
        if (!File.Exists("/usr/bin/containerd")) Assert.Ignore("containerd not installed");
        var psi = new ProcessStartInfo("/usr/bin/containerd") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--config", config, "config", "dump" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0), "containerd config dump: " + stderr.Result);
        return stdout;
    }
}
