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
        Assert.That(stdout, Does.Contain($"docker: runtime \"csshim\" in {Daemon} is already up to date"));
        Assert.That(stdout, Does.Contain($"containerd: runtime \"csshim\" in {Toml} is already up to date"));
        Assert.That(stdout, Does.Not.Contain("restart containerd"), "nothing changed, nothing to restart");
        Assert.That(File.Exists(Toml + ".csshim-backup"), Is.False, "no backup of a file that was created, not edited");
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
        Assert.That(stdout, Does.Contain("would add runtime").And.Contain("would create"));
    }

    [Test]
    public void NameOption()
    {
        var (code, stdout, stderr) = Install("--docker-config", Daemon, "--name=snap");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That((string?)ReadDaemon()["runtimes"]!["snap"]!["path"], Is.EqualTo(self));
        Assert.That(stdout, Does.Contain("runtimes.snap]"), "the containerd snippet uses the name");
    }

    /// <summary>What containerd's CRI plugin must copy into a container's spec: the archive keys (bare and per
    /// container name) and their digest pins, nothing else of csshim's.</summary>
    private static readonly string PatternList =
        "[\"dev.gvisor.tar.rootfs.upper\", \"dev.gvisor.tar.rootfs.upper.*\", " +
        "\"dev.csshim.tar.rootfs.upper.sha256\", \"dev.csshim.tar.rootfs.upper.sha256.*\"]";

    private const string V2Table = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.csshim]";
    private const string V3Table = "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.csshim]";

    [Test]
    public void PrintsTheContainerdTablesForBothConfigVersions()
    {
        var (code, stdout, stderr) = Install("--docker-config", Daemon);
        Assert.That(code, Is.EqualTo(0), stderr);
        foreach (var table in new[] { V2Table, V3Table })
        {
            var at = stdout.IndexOf(table, StringComparison.Ordinal);
            Assert.That(at, Is.GreaterThanOrEqualTo(0), $"{table} in:\n{stdout}");
            var block = stdout[at..];
            Assert.That(block, Does.Contain("runtime_type = \"io.containerd.runc.v2\""));
            Assert.That(block, Does.Contain($"pod_annotations = {PatternList}"));
            Assert.That(block, Does.Contain($"container_annotations = {PatternList}"));
            Assert.That(block, Does.Contain($"BinaryName = \"{self}\""));
        }
        Assert.That(stdout, Does.Contain("restart containerd"));
        Assert.That(File.Exists(Toml), Is.False, "printing writes nothing");
    }

    [Test]
    public void AppendsToAnExistingContainerdConfigKeepingIt()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Toml)!);
        const string original = "# operator's file\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"runc\"";
        File.WriteAllText(Toml, original);
        var (code, stdout, stderr) = Install("--docker-config", Daemon, "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(0), stderr);
        var text = File.ReadAllText(Toml);
        Assert.That(text, Does.StartWith(original));
        Assert.That(text, Does.Contain($"BinaryName = \"{self}\""));
        Assert.That(File.ReadAllText(Toml + ".csshim-backup"), Is.EqualTo(original), "the file as it was is kept");
        Assert.That(stdout, Does.Contain(Toml + ".csshim-backup").And.Contain("restart containerd"));
        Assert.That(ContainerdDump(Toml), Does.Contain($"BinaryName = \"{self}\""), "containerd itself reads the table");
    }

    [Test]
    public void CreatedContainerdConfigIsReadByContainerd()
    {
        var (code, _, stderr) = Install("--docker-config", Daemon, "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(0), stderr);
        var dump = ContainerdDump(Toml);
        Assert.That(dump, Does.Contain(V2Table));
        Assert.That(dump, Does.Contain($"BinaryName = \"{self}\""));
        Assert.That(dump, Does.Contain($"pod_annotations = {PatternList}"));
    }

    /// <summary>The new user's path: `containerd config default`, then csshim install. containerd reads the allow-list
    /// back as written, and the stock runc entry is left exactly as it was.</summary>
    [Test]
    public void StockContainerdConfigGetsTheAnnotationAllowList()
    {
        var stock = ContainerdDefaultConfig();
        Directory.CreateDirectory(Path.GetDirectoryName(Toml)!);
        File.WriteAllText(Toml, stock);
        var (code, _, stderr) = Install("--no-docker", "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.ReadAllText(Toml), Does.StartWith(stock), "the stock file is kept byte for byte, the entry appended");
        var dump = ContainerdDump(Toml);
        var entry = dump[dump.IndexOf(V2Table, StringComparison.Ordinal)..];
        entry = entry[..entry.IndexOf(".options]", StringComparison.Ordinal)];
        Assert.That(entry, Does.Contain($"pod_annotations = {PatternList}"), dump);
        Assert.That(entry, Does.Contain($"container_annotations = {PatternList}"));
        Assert.That(RuntimeEntry(dump, "runc"), Is.EqualTo(RuntimeEntry(ContainerdDump(Toml + ".csshim-backup"), "runc")), "other runtimes untouched");
    }

    /// <summary>An entry from an older csshim (or written by hand) is brought up to date in place: csshim's keys set,
    /// an operator's own patterns and other keys kept, no second table (containerd would refuse the file).</summary>
    [Test]
    public void UpdatesAnExistingEntryKeepingTheOperatorsKeys()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Toml)!);
        const string original = """
            version = 2
            [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.csshim]
              runtime_type = "io.containerd.runc.v2"
              pod_annotations = [
                "io.example.team/*",
              ]
              privileged_without_host_devices = true
            [plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.csshim.options]
              BinaryName = "/somewhere/else" # old build
              SystemdCgroup = true
            [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
              runtime_type = "io.containerd.runc.v2"

            """;
        File.WriteAllText(Toml, original);
        var (code, stdout, stderr) = Install("--no-docker", "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(0), stderr);
        var text = File.ReadAllText(Toml);
        Assert.That(text.Split('\n').Count(l => l.Contains("runtimes.csshim]")), Is.EqualTo(1), text);
        Assert.That(text, Does.Contain("pod_annotations = [\"io.example.team/*\", \"dev.gvisor.tar.rootfs.upper\""));
        Assert.That(text, Does.Contain($"container_annotations = {PatternList}"));
        Assert.That(text, Does.Contain("privileged_without_host_devices = true").And.Contain("SystemdCgroup = true"));
        Assert.That(text, Does.Contain($"BinaryName = \"{self}\"").And.Not.Contain("/somewhere/else"));
        Assert.That(text, Does.EndWith("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n"));
        Assert.That(stdout, Does.Contain("update runtime \"csshim\"").And.Contain("/somewhere/else"));
        Assert.That(File.ReadAllText(Toml + ".csshim-backup"), Is.EqualTo(original));
        var dump = ContainerdDump(Toml);
        Assert.That(dump, Does.Contain("\"io.example.team/*\", \"dev.gvisor.tar.rootfs.upper\""), dump);

        var again = Install("--no-docker", "--containerd-config", Toml);
        Assert.That(again.Out, Does.Contain("already up to date"), again.Out);
        Assert.That(File.ReadAllText(Toml), Is.EqualTo(text));
    }

    /// <summary>containerd 2.x: `version = 3` puts runtimes under io.containerd.cri.v1.runtime (its own default file
    /// writes the plugin names in single quotes).</summary>
    [Test]
    public void Version3ConfigGetsTheV3Tables()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Toml)!);
        const string original = """
            version = 3

            [plugins]
              [plugins.'io.containerd.cri.v1.runtime']
                [plugins.'io.containerd.cri.v1.runtime'.containerd]
                  default_runtime_name = 'runc'
                  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes]
                    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
                      runtime_type = 'io.containerd.runc.v2'
                      pod_annotations = []
                      container_annotations = []
                      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
                        BinaryName = ''

            """;
        File.WriteAllText(Toml, original);
        var (code, _, stderr) = Install("--no-docker", "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Is.Empty, "no version warning");
        var text = File.ReadAllText(Toml);
        Assert.That(text, Does.StartWith(original));
        var added = text[original.Length..];
        Assert.That(added, Does.Contain(V3Table).And.Contain($"pod_annotations = {PatternList}").And.Contain($"BinaryName = \"{self}\""));
        Assert.That(added, Does.Not.Contain("grpc.v1.cri"));

        // An existing v3 entry in containerd's quoting is found and updated, not duplicated.
        File.WriteAllText(Toml, original.Replace("runtimes.runc", "runtimes.csshim"));
        Assert.That(Install("--no-docker", "--containerd-config", Toml).Code, Is.EqualTo(0));
        text = File.ReadAllText(Toml);
        Assert.That(text, Does.Not.Contain(V3Table), "no second table in csshim's quoting");
        Assert.That(text, Does.Contain($"pod_annotations = {PatternList}").And.Contain($"BinaryName = \"{self}\""));
    }

    [Test]
    public void RefusesAnEntryWithInlineOptions()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Toml)!);
        const string original = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.csshim]\n  runtime_type = \"io.containerd.runc.v2\"\n" +
                                "  options = { BinaryName = \"/x\" }\n";
        File.WriteAllText(Toml, original);
        var (code, _, stderr) = Install("--no-docker", "--containerd-config", Toml);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain(Toml).And.Contain("inline"));
        Assert.That(File.ReadAllText(Toml), Is.EqualTo(original));
        Assert.That(File.Exists(Toml + ".csshim-backup"), Is.False);
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

    private static string ContainerdDump(string config) => Containerd("--config", config, "config", "dump");

    private static string ContainerdDefaultConfig() => Containerd("config", "default");

    /// <summary>One runtime's lines in a `config dump`: its table and its options table.</summary>
    private static string RuntimeEntry(string dump, string name)
    {
        var prefix = $"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{name}";
        var lines = dump.Split('\n').SkipWhile(l => !l.Trim().StartsWith(prefix + "]", StringComparison.Ordinal)).ToList();
        Assert.That(lines, Is.Not.Empty, $"{prefix}] in:\n{dump}");
        var entry = lines.Take(1).Concat(lines.Skip(1).TakeWhile(l => !l.Trim().StartsWith('[') || l.Trim().StartsWith(prefix + ".", StringComparison.Ordinal)));
        return string.Join('\n', entry);
    }

    private static string Containerd(params string[] args)
    {
        if (!File.Exists("/usr/bin/containerd")) Assert.Ignore("containerd not installed");
        var psi = new ProcessStartInfo("/usr/bin/containerd") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0), $"containerd {string.Join(' ', args)}: " + stderr.Result);
        return stdout;
    }
}
