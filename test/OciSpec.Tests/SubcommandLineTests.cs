using Csshim.OciSpec;

namespace Csshim.Tests;

public class SubcommandLineTests
{
    private static readonly RuntimeFlavor[] Both = [RuntimeFlavor.Runc, RuntimeFlavor.Runsc];

    [Test]
    public void ShimCreate()
    {
        foreach (var flavor in Both)
        {
            var sub = SubcommandLine.Parse("create", ["--bundle", "/b", "--pid-file", "/b/init.pid", "--console-socket", "/s", "c1"], flavor);
            Assert.That(sub.Value("bundle"), Is.EqualTo("/b"));
            Assert.That(sub.Value("pid-file"), Is.EqualTo("/b/init.pid"));
            Assert.That(sub.Value("console-socket"), Is.EqualTo("/s"));
            Assert.That(sub.ContainerId, Is.EqualTo("c1"));
            Assert.That(sub.Positionals, Is.EqualTo(new[] { "c1" }));
        }
    }

    [Test]
    public void RuncShortAliasesFindTheLongName()
    {
        var sub = SubcommandLine.Parse("create", ["-b", "/b", "c1"], RuntimeFlavor.Runc);
        Assert.That(sub.Value("bundle"), Is.EqualTo("/b"));
        Assert.That(sub.Value("b"), Is.EqualTo("/b"));
        Assert.That(sub.Has("bundle"), Is.True);
    }

    [TestCase("--bundle=/b")]
    [TestCase("-bundle=/b")]
    [TestCase("-bundle /b")]
    public void EveryForm(string form)
    {
        foreach (var flavor in Both)
        {
            var sub = SubcommandLine.Parse("run", [.. form.Split(' '), "-detach", "c1"], flavor);
            Assert.That(sub.Value("bundle"), Is.EqualTo("/b"));
            Assert.That(sub.IsSet("detach"), Is.True);
            Assert.That(sub.ContainerId, Is.EqualTo("c1"));
        }
    }

    [Test]
    public void ExecPositionalsStopFlagParsing()
    {
        foreach (var flavor in Both)
        {
            var sub = SubcommandLine.Parse("exec", ["--cwd", "/", "--env", "A=1", "--env=B=2", "c1", "sh", "-c", "--detach"], flavor);
            Assert.That(sub.ContainerId, Is.EqualTo("c1"));
            Assert.That(sub.Positionals, Is.EqualTo(new[] { "c1", "sh", "-c", "--detach" }));
            Assert.That(sub.Has("detach"), Is.False);
            Assert.That(sub.Values("env"), Is.EqualTo(new[] { "A=1", "B=2" }));
        }
    }

    [Test]
    public void ShimExec()
    {
        var sub = SubcommandLine.Parse("exec", ["--process", "/tmp/runc-process1", "--console-socket", "/s", "--detach", "--pid-file", "/b/x.pid", "c1"], RuntimeFlavor.Runc);
        Assert.That(sub.Value("process"), Is.EqualTo("/tmp/runc-process1"));
        Assert.That(sub.Value("p"), Is.EqualTo("/tmp/runc-process1"));
        Assert.That(sub.IsSet("detach"), Is.True);
        Assert.That(sub.ContainerId, Is.EqualTo("c1"));
        var tty = SubcommandLine.Parse("exec", ["-t", "-u", "0:0", "-e", "X=1", "c1", "ls"], RuntimeFlavor.Runc);
        Assert.That(tty.IsSet("tty"), Is.True);
        Assert.That(tty.Value("user"), Is.EqualTo("0:0"));
        Assert.That(tty.Positionals, Is.EqualTo(new[] { "c1", "ls" }));
    }

    [Test]
    public void KillAndDelete()
    {
        foreach (var flavor in Both)
        {
            var kill = SubcommandLine.Parse("kill", ["--all", "c1", "9"], flavor);
            Assert.That(kill.IsSet("all"), Is.True);
            Assert.That(kill.Positionals, Is.EqualTo(new[] { "c1", "9" }));
            var plain = SubcommandLine.Parse("kill", ["c1", "15"], flavor);
            Assert.That(plain.Has("all"), Is.False);
            Assert.That(plain.Positionals, Is.EqualTo(new[] { "c1", "15" }));
            var delete = SubcommandLine.Parse("delete", ["--force", "c1"], flavor);
            Assert.That(delete.IsSet("force"), Is.True);
            Assert.That(delete.ContainerId, Is.EqualTo("c1"));
            Assert.That(SubcommandLine.Parse("delete", ["--force=false", "c1"], flavor).IsSet("force"), Is.False);
        }
    }

    [Test]
    public void PsFormat()
    {
        foreach (var flavor in Both)
        {
            var ps = SubcommandLine.Parse("ps", ["--format", "json", "c1"], flavor);
            Assert.That(ps.Value("format"), Is.EqualTo("json"));
            Assert.That(ps.ContainerId, Is.EqualTo("c1"));
        }
        Assert.That(SubcommandLine.Parse("ps", ["-f", "json", "c1"], RuntimeFlavor.Runc).ContainerId, Is.EqualTo("c1"));
    }

    [Test]
    public void RuncReordersKnownFlagsAfterTheId()
    {
        var delete = SubcommandLine.Parse("delete", ["c1", "--force"], RuntimeFlavor.Runc);
        Assert.That(delete.IsSet("force"), Is.True);
        Assert.That(delete.Positionals, Is.EqualTo(new[] { "c1" }));
        var create = SubcommandLine.Parse("create", ["c1", "--bundle", "/b"], RuntimeFlavor.Runc);
        Assert.That(create.Value("bundle"), Is.EqualTo("/b"));
        Assert.That(create.ContainerId, Is.EqualTo("c1"));
        // unknown flags stay in place (runc then fails on the extra argument)
        var state = SubcommandLine.Parse("state", ["c1", "--bogus"], RuntimeFlavor.Runc);
        Assert.That(state.Positionals, Is.EqualTo(new[] { "c1", "--bogus" }));
    }

    [Test]
    public void RunscDoesNotReorder()
    {
        var delete = SubcommandLine.Parse("delete", ["c1", "--force"], RuntimeFlavor.Runsc);
        Assert.That(delete.Has("force"), Is.False);
        Assert.That(delete.Positionals, Is.EqualTo(new[] { "c1", "--force" }));
    }

    [Test]
    public void RuncExecIsNotReordered()
    {
        var exec = SubcommandLine.Parse("exec", ["c1", "ls", "--tty"], RuntimeFlavor.Runc);
        Assert.That(exec.Has("tty"), Is.False);
        Assert.That(exec.Positionals, Is.EqualTo(new[] { "c1", "ls", "--tty" }));
    }

    [Test]
    public void RunscValuedFlags()
    {
        var run = SubcommandLine.Parse("run", ["--user-log", "/l", "--bundle", "/b", "c1"], RuntimeFlavor.Runsc);
        Assert.That(run.Value("user-log"), Is.EqualTo("/l"));
        Assert.That(run.ContainerId, Is.EqualTo("c1"));
        var kill = SubcommandLine.Parse("kill", ["--pid", "7", "c1", "9"], RuntimeFlavor.Runsc);
        Assert.That(kill.Value("pid"), Is.EqualTo("7"));
        Assert.That(kill.ContainerId, Is.EqualTo("c1"));
    }

    [Test]
    public void TerminatorEndsFlags()
    {
        var sub = SubcommandLine.Parse("delete", ["--", "--force"], RuntimeFlavor.Runsc);
        Assert.That(sub.Has("force"), Is.False);
        Assert.That(sub.SawTerminator, Is.True);
        Assert.That(sub.ContainerId, Is.EqualTo("--force"));
    }

    /// <summary>A wrapper's command with a verb (csshim's `tar rootfs-upper`) and one with `--` (csshim's `install`).</summary>
    private static readonly FlagTable TarTable = FlagTable.Of(["file", "compress"], ["pause"]);
    private static readonly FlagTable InstallTable = FlagTable.Of(["docker-config", "containerd-config", "name"], ["dry-run"]);

    [TestCase(new[] { "rootfs-upper", "c1" }, null, null, false)]
    [TestCase(new[] { "rootfs-upper", "--file", "/tmp/a.tar", "c1" }, "/tmp/a.tar", null, false)]
    [TestCase(new[] { "rootfs-upper", "--file=/tmp/a.tar", "--compress", "zstd", "--pause", "c1" }, "/tmp/a.tar", "zstd", true)]
    [TestCase(new[] { "--file", "/tmp/a.tar", "rootfs-upper", "-pause", "c1" }, "/tmp/a.tar", null, true)]
    public void VerbCommand(string[] args, string? file, string? compress, bool pause)
    {
        {
            var tar = SubcommandLine.Parse("tar", args, TarTable, reorders: false, verb: true);
            Assert.That(tar.Verb, Is.EqualTo("rootfs-upper"));
            Assert.That(tar.Positionals, Is.EqualTo(new[] { "rootfs-upper", "c1" }));
            Assert.That(tar.ContainerId, Is.EqualTo("c1"));
            Assert.That(tar.Value("file"), Is.EqualTo(file));
            Assert.That(tar.Value("compress"), Is.EqualTo(compress));
            Assert.That(tar.IsSet("pause"), Is.EqualTo(pause));
            Assert.That(tar.UnknownFlags, Is.Empty);
        }
    }

    [Test]
    public void TarWithoutIdHasNoContainerId()
    {
        var tar = SubcommandLine.Parse("tar", ["rootfs-upper"], TarTable, reorders: false, verb: true);
        Assert.That(tar.ContainerId, Is.Null);
        Assert.That(tar.Positionals, Is.EqualTo(new[] { "rootfs-upper" }));
    }

    [Test]
    public void Install()
    {
        var install = SubcommandLine.Parse("install", ["--docker-config", "/d.json", "--name=gv", "--dry-run", "--", "--network=none", "--debug"], InstallTable, reorders: false);
        Assert.That(install.Value("docker-config"), Is.EqualTo("/d.json"));
        Assert.That(install.Value("name"), Is.EqualTo("gv"));
        Assert.That(install.IsSet("dry-run"), Is.True);
        Assert.That(install.SawTerminator, Is.True);
        Assert.That(install.Positionals, Is.EqualTo(new[] { "--network=none", "--debug" }));
        Assert.That(install.ContainerId, Is.EqualTo("--network=none"), "install has no container; ContainerId is just the first positional");
        var unknown = SubcommandLine.Parse("install", ["--network=none"], InstallTable, reorders: false);
        Assert.That(unknown.UnknownFlags, Is.EqualTo(new[] { "network" }));
    }

    [Test]
    public void UnknownSubcommandReadsFlagsAsBools()
    {
        var sub = SubcommandLine.Parse("frobnicate", ["--x", "c1"], RuntimeFlavor.Runsc);
        Assert.That(sub.ContainerId, Is.EqualTo("c1"));
        Assert.That(sub.UnknownFlags, Is.EqualTo(new[] { "x" }));
    }
}
