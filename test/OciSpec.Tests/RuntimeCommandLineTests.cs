using Csshim.OciSpec;

namespace Csshim.Tests;

/// <summary>Real invocations (the command lines of containerd-shim, Docker and conmon, docs/DESIGN.md) split as the runtimes split them.</summary>
public class RuntimeCommandLineTests
{
    private const string R = "/run/containerd/runc/default";
    private const string B = "/run/containerd/io.containerd.runtime.v2.task/default/c1";
    private static readonly string[] G = ["--root", R, "--log", B + "/log.json", "--log-format", "json"];

    private static string[] Argv(params string[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>A wrapper's own global flags, as csshim claims its own.</summary>
    private static readonly FlagTable Own = FlagTable.Of(
        ["shim-runtime", "shim-config", "shim-state-dir", "shim-upper-size", "shim-tar-dir"], ["allow-rootfs-tar-annotation"]);

    private static RuntimeCommandLine ParseOwn(string[] argv, RuntimeFlavor flavor) => RuntimeCommandLine.Parse(argv, flavor, Own);

    private static string? OwnValue(RuntimeCommandLine line, string name) => line.Consumed.LastOrDefault(f => f.Name == name)?.Value;

    private static bool? OwnSwitch(RuntimeCommandLine line, string name) =>
        line.Consumed.LastOrDefault(f => f.Name == name) is { } f ? FlagWord.ParseBool(f.EffectiveValue) : null;

    public static IEnumerable<TestCaseData> ClientCalls()
    {
        // containerd-shim-runc-v2 (containerd 1.6, Docker 20/26)
        yield return Case("shim create", Argv(G, ["create", "--bundle", B, "--pid-file", B + "/init.pid", "--console-socket", "/tmp/pty.sock", "c1"]),
            G, "create", ["--bundle", B, "--pid-file", B + "/init.pid", "--console-socket", "/tmp/pty.sock", "c1"]);
        yield return Case("shim start", Argv(G, ["start", "c1"]), G, "start", ["c1"]);
        yield return Case("shim exec", Argv(G, ["exec", "--process", "/tmp/runc-process123", "--detach", "--pid-file", B + "/e1.pid", "c1"]),
            G, "exec", ["--process", "/tmp/runc-process123", "--detach", "--pid-file", B + "/e1.pid", "c1"]);
        yield return Case("shim ps", Argv(G, ["ps", "--format", "json", "c1"]), G, "ps", ["--format", "json", "c1"]);
        yield return Case("shim kill", Argv(G, ["kill", "c1", "15"]), G, "kill", ["c1", "15"]);
        yield return Case("shim kill all", Argv(G, ["kill", "--all", "c1", "9"]), G, "kill", ["--all", "c1", "9"]);
        yield return Case("shim delete", Argv(G, ["delete", "c1"]), G, "delete", ["c1"]);
        yield return Case("shim delete force", Argv(G, ["delete", "--force", "c1"]), G, "delete", ["--force", "c1"]);
        // Docker 26: runtimeArgs come first, then <G>; `features` at daemon start
        yield return Case("docker runtimeArgs", Argv(["--network=none"], G, ["create", "--bundle", B, "c1"]),
            Argv(["--network=none"], G), "create", ["--bundle", B, "c1"]);
        yield return Case("docker features", ["--network=none", "features"], ["--network=none"], "features", []);
        // podman 4.3 via conmon: --runtime-flag x=y becomes --x=y; no --root by default
        yield return Case("podman create", ["--debug=false", "--overlay2=none", "create", "--bundle", B, "--pid-file", "/run/p.pid", "c1"],
            ["--debug=false", "--overlay2=none"], "create", ["--bundle", B, "--pid-file", "/run/p.pid", "c1"]);
        yield return Case("podman exec tty", ["exec", "--pid-file", "/p", "--process", "/f", "--detach", "--tty", "--console-socket", "/s", "c1"],
            [], "exec", ["--pid-file", "/p", "--process", "/f", "--detach", "--tty", "--console-socket", "/s", "c1"]);
        yield return Case("podman cleanup delete", ["delete", "--force", "c1"], [], "delete", ["--force", "c1"]);
        // runsc-style globals: bools never take the next word, valued ones do
        yield return Case("single dash", ["-root", "/r", "-debug", "-log-format=json", "state", "c1"],
            ["-root", "/r", "-debug", "-log-format=json"], "state", ["c1"]);
        yield return Case("bool with =false", ["--debug=false", "--systemd-cgroup=true", "list"],
            ["--debug=false", "--systemd-cgroup=true"], "list", []);
        // `--` ends the globals: it is forwarded, and the word after it is the subcommand even if it looks like a flag
        yield return Case("terminator", ["--root", "/r", "--", "start", "c1"], ["--root", "/r", "--"], "start", ["c1"]);
        yield return Case("terminator then dash word", ["--", "--weird", "x"], ["--"], "--weird", ["x"]);
        yield return Case("valued flag takes a dash word", ["--log", "-", "start", "c1"], ["--log", "-"], "start", ["c1"]);
        yield return Case("no subcommand", ["--root", "/r"], ["--root", "/r"], null, []);
        yield return Case("empty", [], [], null, []);
        yield return Case("subcommand args kept verbatim", ["exec", "c1", "--", "sh", "-c", "--shim-runtime x"],
            [], "exec", ["c1", "--", "sh", "-c", "--shim-runtime x"]);
        yield return Case("lone dash is a word", ["-", "x"], [], "-", ["x"]);
    }

    private static TestCaseData Case(string name, string[] argv, string[] globals, string? sub, string[] subArgs) =>
        new TestCaseData(argv, globals, sub, subArgs).SetName("client: " + name);

    [TestCaseSource(nameof(ClientCalls))]
    public void SplitsLikeTheRuntime(string[] argv, string[] globals, string? sub, string[] subArgs)
    {
        foreach (var flavor in new[] { RuntimeFlavor.Runc, RuntimeFlavor.Runsc })
        {
            var line = RuntimeCommandLine.Parse(argv, flavor);
            Assert.That(line.GlobalArgs, Is.EqualTo(globals), $"{flavor} globals");
            Assert.That(line.Subcommand, Is.EqualTo(sub), $"{flavor} subcommand");
            Assert.That(line.SubcommandArgs, Is.EqualTo(subArgs), $"{flavor} subcommand args");
            Assert.That(line.ToRuntimeArgs(), Is.EqualTo(argv), $"{flavor}: forwarding without own flags is the identity");
        }
    }

    [Test]
    public void RunscStyleGlobals()
    {
        string[] argv = ["--debug", "--debug-log=/x/", "--network=none", "--overlay2", "none", "--host-fifo", "open", "run", "-d", "c1"];
        var line = RuntimeCommandLine.Parse(argv, RuntimeFlavor.Runsc);
        Assert.That(line.GlobalArgs, Is.EqualTo(argv[..7]));
        Assert.That(line.Subcommand, Is.EqualTo("run"));
        Assert.That(line.SubcommandArgs, Is.EqualTo(new[] { "-d", "c1" }));
        Assert.That(line.GlobalValue("overlay2"), Is.EqualTo("none"));
        Assert.That(line.GlobalValue("debug-log"), Is.EqualTo("/x/"));
        Assert.That(line.GlobalValue("host-fifo"), Is.EqualTo("open"));
        Assert.That(line.GlobalValue("debug"), Is.EqualTo("true"));
    }

    [Test]
    public void ContainerdGlobalsAreReadable()
    {
        var line = RuntimeCommandLine.Parse(Argv(G, ["delete", "c1"]), RuntimeFlavor.Runc);
        Assert.That(line.Root, Is.EqualTo(R));
        Assert.That(line.LogPath, Is.EqualTo(B + "/log.json"));
        Assert.That(line.LogFormat, Is.EqualTo("json"));
        Assert.That(line.HasGlobal("debug"), Is.False);
        Assert.That(line.GlobalValue("criu"), Is.Null);
    }

    [TestCase("--root=/a")]
    [TestCase("-root=/a")]
    [TestCase("-root /a")]
    [TestCase("--root /a")]
    public void GlobalValueIgnoresDashCount(string form)
    {
        var line = RuntimeCommandLine.Parse([.. form.Split(' '), "state", "c1"], RuntimeFlavor.Runsc);
        Assert.That(line.Root, Is.EqualTo("/a"));
        Assert.That(line.HasGlobal("root"), Is.True);
        Assert.That(line.Subcommand, Is.EqualTo("state"));
    }

    [Test]
    public void LastValueWins()
    {
        var line = RuntimeCommandLine.Parse(["--root", "/a", "-root=/b", "list"], RuntimeFlavor.Runc);
        Assert.That(line.Root, Is.EqualTo("/b"));
    }

    [Test]
    public void BoolGlobalReadsAsTrue()
    {
        var line = RuntimeCommandLine.Parse(["--debug", "--systemd-cgroup=false", "list"], RuntimeFlavor.Runc);
        Assert.That(line.GlobalValue("debug"), Is.EqualTo("true"));
        Assert.That(line.GlobalValue("systemd-cgroup"), Is.EqualTo("false"));
        Assert.That(line.HasGlobal("systemd-cgroup"), Is.True);
    }

    [Test]
    public void RootlessTakesAValueInRuncButNotInRunsc()
    {
        string[] argv = ["--rootless", "auto", "list"];
        var runc = RuntimeCommandLine.Parse(argv, RuntimeFlavor.Runc);
        Assert.That(runc.Subcommand, Is.EqualTo("list"));
        Assert.That(runc.GlobalValue("rootless"), Is.EqualTo("auto"));
        var runsc = RuntimeCommandLine.Parse(argv, RuntimeFlavor.Runsc);
        Assert.That(runsc.Subcommand, Is.EqualTo("auto"));
        Assert.That(runsc.SubcommandArgs, Is.EqualTo(new[] { "list" }));
    }

    [Test]
    public void RunscOnlyValuedFlagsAreBoolForRunc()
    {
        // runc has no --network; Go would refuse it, csshim reads it as a bool and lets runc say so.
        var runc = RuntimeCommandLine.Parse(["--network", "none", "create", "c1"], RuntimeFlavor.Runc);
        Assert.That(runc.Subcommand, Is.EqualTo("none"));
        var runsc = RuntimeCommandLine.Parse(["--network", "none", "create", "c1"], RuntimeFlavor.Runsc);
        Assert.That(runsc.Subcommand, Is.EqualTo("create"));
        Assert.That(runsc.GlobalValue("network"), Is.EqualTo("none"));
    }

    [Test]
    public void UnknownGlobalWithoutEqualsIsBool()
    {
        var line = RuntimeCommandLine.Parse(["--future-flag", "create", "c1"], RuntimeFlavor.Runsc);
        Assert.That(line.GlobalArgs, Is.EqualTo(new[] { "--future-flag" }));
        Assert.That(line.Subcommand, Is.EqualTo("create"));
        var withValue = RuntimeCommandLine.Parse(["--future-flag=x y", "create"], RuntimeFlavor.Runsc);
        Assert.That(withValue.GlobalValue("future-flag"), Is.EqualTo("x y"));
        Assert.That(withValue.Subcommand, Is.EqualTo("create"));
    }

    [TestCase(new[] { "--gvisor-gro", "1ms", "create", "c1" }, "create", "1ms")]
    [TestCase(new[] { "--gvisor-gro", "create", "c1" }, "create", "true")]
    [TestCase(new[] { "--gvisor-gro=false", "create", "c1" }, "create", "false")]
    public void GvisorGroIsADurationIn2022AndABoolLater(string[] argv, string sub, string value)
    {
        var line = RuntimeCommandLine.Parse(argv, RuntimeFlavor.Runsc);
        Assert.That(line.Subcommand, Is.EqualTo(sub));
        Assert.That(line.GlobalValue("gvisor-gro"), Is.EqualTo(value));
    }

    public static IEnumerable<TestCaseData> OwnFlagForms()
    {
        foreach (var dashes in new[] { "-", "--" })
        {
            yield return new TestCaseData(new object[] { new[] { dashes + "shim-runtime", "/usr/bin/runsc" } }).SetName($"own: {dashes}shim-runtime v");
            yield return new TestCaseData(new object[] { new[] { dashes + "shim-runtime=/usr/bin/runsc" } }).SetName($"own: {dashes}shim-runtime=v");
        }
    }

    [TestCaseSource(nameof(OwnFlagForms))]
    public void OwnFlagsAreConsumedInEveryFormAndPosition(string[] own)
    {
        // every position among containerd's globals: before, between, after
        for (var at = 0; at <= G.Length; at += 2)
        {
            string[] argv = [.. G[..at], .. own, .. G[at..], "create", "--bundle", B, "c1"];
            foreach (var flavor in new[] { RuntimeFlavor.Runc, RuntimeFlavor.Runsc })
            {
                var line = ParseOwn(argv, flavor);
                Assert.That(OwnValue(line, "shim-runtime"), Is.EqualTo("/usr/bin/runsc"), $"{flavor} at {at}");
                Assert.That(line.GlobalArgs, Is.EqualTo(G), $"{flavor} at {at}: own flag not forwarded");
                Assert.That(line.Subcommand, Is.EqualTo("create"));
                Assert.That(line.ToRuntimeArgs(), Is.EqualTo(Argv(G, ["create", "--bundle", B, "c1"])));
            }
        }
    }

    [Test]
    public void AllOwnFlags()
    {
        var line = ParseOwn(
        [
            "--shim-config=/etc/c.json", "-shim-state-dir", "/run/s", "--root", "/r", "--shim-upper-size", "1G",
            "--shim-tar-dir", "/a", "-shim-tar-dir=/b", "--allow-rootfs-tar-annotation", "--debug", "run", "c1",
        ], RuntimeFlavor.Runsc);
        Assert.That(OwnValue(line, "shim-config"), Is.EqualTo("/etc/c.json"));
        Assert.That(OwnValue(line, "shim-state-dir"), Is.EqualTo("/run/s"));
        Assert.That(OwnValue(line, "shim-upper-size"), Is.EqualTo("1G"));
        Assert.That(line.Consumed.Where(f => f.Name == "shim-tar-dir").Select(f => f.Value), Is.EqualTo(new[] { "/a", "/b" }));
        Assert.That(OwnSwitch(line, "allow-rootfs-tar-annotation"), Is.True);
        Assert.That(OwnValue(line, "shim-runtime"), Is.Null);
        Assert.That(line.GlobalArgs, Is.EqualTo(new[] { "--root", "/r", "--debug" }));
        Assert.That(line.HasGlobal("allow-rootfs-tar-annotation"), Is.False);
        Assert.That(line.Subcommand, Is.EqualTo("run"));
    }

    [TestCase("--allow-rootfs-tar-annotation=false", false)]
    [TestCase("-allow-rootfs-tar-annotation=1", true)]
    [TestCase("-allow-rootfs-tar-annotation", true)]
    public void AllowAnnotationIsABool(string word, bool expected)
    {
        var line = ParseOwn([word, "create", "c1"], RuntimeFlavor.Runsc);
        Assert.That(OwnSwitch(line, "allow-rootfs-tar-annotation"), Is.EqualTo(expected));
        Assert.That(line.Subcommand, Is.EqualTo("create"), "a bool never takes the next word");
        Assert.That(line.GlobalArgs, Is.Empty);
    }

    [Test]
    public void OwnFlagAfterTheSubcommandIsNotOwn()
    {
        var line = ParseOwn(["create", "--shim-runtime", "x", "c1"], RuntimeFlavor.Runc);
        Assert.That(OwnValue(line, "shim-runtime"), Is.Null);
        Assert.That(line.SubcommandArgs, Is.EqualTo(new[] { "--shim-runtime", "x", "c1" }));
    }

    [Test]
    public void OwnFlagAfterTerminatorIsTheSubcommand()
    {
        var line = ParseOwn(["--", "--shim-runtime", "x"], RuntimeFlavor.Runc);
        Assert.That(OwnValue(line, "shim-runtime"), Is.Null);
        Assert.That(line.Subcommand, Is.EqualTo("--shim-runtime"));
    }

    [TestCase("--shim-runtime")]
    [TestCase("-shim-state-dir")]
    public void OwnFlagWithoutValueIsAnError(string word)
    {
        var e = Assert.Throws<ArgumentException>(() => ParseOwn(["--root", "/r", word], RuntimeFlavor.Runc));
        Assert.That(e!.Message, Does.Contain(word));
    }

    [Test]
    public void BadAllowValueIsAnError() =>
        Assert.Throws<ArgumentException>(() => ParseOwn(["--allow-rootfs-tar-annotation=maybe", "run"], RuntimeFlavor.Runsc));

    [TestCase(new[] { "--version" }, true)]
    [TestCase(new[] { "-v" }, true)]
    [TestCase(new[] { "-version" }, true)]
    [TestCase(new[] { "--root", "/r", "--version" }, true)]
    [TestCase(new[] { "--version=false" }, false)]
    [TestCase(new[] { "state", "--version" }, false)]
    [TestCase(new[] { "--root", "--version" }, false)]
    public void WantsVersion(string[] argv, bool expected)
    {
        Assert.That(RuntimeCommandLine.Parse(argv, RuntimeFlavor.Runc).WantsVersion, Is.EqualTo(expected));
        Assert.That(RuntimeCommandLine.Parse(argv, RuntimeFlavor.Runsc).WantsVersion, Is.EqualTo(expected));
    }

    [Test]
    public void ToRuntimeArgsPutsExtrasFirstAndCanReplaceTheSubcommandArgs()
    {
        var line = ParseOwn(["--shim-runtime=/x", "--root", "/r", "create", "--bundle", "/b", "c1"], RuntimeFlavor.Runsc);
        Assert.That(line.ToRuntimeArgs(["--network=none", "--host-fifo=open"]),
            Is.EqualTo(new[] { "--network=none", "--host-fifo=open", "--root", "/r", "create", "--bundle", "/b", "c1" }));
        Assert.That(line.ToRuntimeArgs(null, ["--bundle", "/other", "c1"]),
            Is.EqualTo(new[] { "--root", "/r", "create", "--bundle", "/other", "c1" }));
    }

    [Test]
    public void BadFlagSyntaxIsForwardedForTheRuntimeToReject()
    {
        var line = RuntimeCommandLine.Parse(["---x", "-=v", "list"], RuntimeFlavor.Runc);
        Assert.That(line.GlobalArgs, Is.EqualTo(new[] { "---x", "-=v" }));
        Assert.That(line.Subcommand, Is.EqualTo("list"));
    }

    [TestCase(new[] { "--future-flag", "value", "create", "c1" }, "future-flag")]
    [TestCase(new[] { "--root", "/r", "-future", "create", "--bundle", "/b", "c1" }, "future")]
    public void AnUnknownGlobalBeforeAWordMakesTheLineAmbiguous(string[] argv, string flag)
    {
        foreach (var flavor in new[] { RuntimeFlavor.Runc, RuntimeFlavor.Runsc })
        {
            var line = RuntimeCommandLine.Parse(argv, flavor);
            Assert.That(line.IsAmbiguous, Is.True, $"{flavor}");
            Assert.That(line.AmbiguousGlobals, Is.EqualTo(new[] { flag }));
        }
    }

    [TestCase("--future-flag=value create c1")]
    [TestCase("--future-flag --root /r create c1")]
    [TestCase("--root /r --debug create c1")]
    [TestCase("--future-flag")]
    public void KnownFlagsAndInlineValuesAreNotAmbiguous(string words)
    {
        var argv = words.Split(' ');
        foreach (var flavor in new[] { RuntimeFlavor.Runc, RuntimeFlavor.Runsc })
            Assert.That(RuntimeCommandLine.Parse(argv, flavor).IsAmbiguous, Is.False, $"{flavor}");
    }

    [Test]
    public void ConsumedFlagsAreNotAmbiguousEither()
    {
        var line = ParseOwn(["--shim-runtime", "/x", "create", "c1"], RuntimeFlavor.Runc);
        Assert.That(line.IsAmbiguous, Is.False);
        Assert.That(line.Subcommand, Is.EqualTo("create"));
    }
}
