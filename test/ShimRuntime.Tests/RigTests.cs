namespace Csshim.Tests;

/// <summary>
/// The rig against the runtimes alone, no csshim: if these fail, a csshim comparison means nothing.
/// </summary>
[PerRuntime]
public class RigTests(string runtime) : IntegrationFixture(runtime)
{
    [Test]
    public void BusyboxBundle_RunsAndReportsTheExitStatus()
    {
        var direct = Direct();
        var r = direct.Run("run", "--bundle", NewBundle("b", "sh", "-c", "echo hi; echo oops >&2; exit 7").Dir, NewId(direct));
        Assert.Multiple(() =>
        {
            Assert.That(r.ExitCode, Is.EqualTo(7), r.ToString());
            Assert.That(r.Stdout, Is.EqualTo("hi\n"));
            Assert.That(r.Stderr, Is.EqualTo("oops\n"));
        });
    }

    [Test]
    public void ConsoleSocketReceiver_GetsThePtyMaster()
    {
        var direct = Direct();
        var bundle = NewBundle("tty", "sh", "-c", "[ -t 1 ] && echo IS-TTY; sleep 2").SetTerminal(true).Save();
        var id = NewId(direct);
        using var console = new ConsoleSocketReceiver(Path.Combine(TempDir, "c.sock"));
        AssertSucceeded(direct.Run("create", "--bundle", bundle.Dir, "--console-socket", console.SocketPath, id), "create");
        Assert.That(console.WaitForMaster(TimeSpan.FromSeconds(30)), Is.GreaterThan(2));
        AssertSucceeded(direct.Run("start", id), "start");
        Assert.That(console.ReadUntil("IS-TTY", TimeSpan.FromSeconds(30)), Does.Contain("IS-TTY"));
        AssertSucceeded(direct.Run("delete", "--force", id), "delete --force");
    }

    [Test]
    public void MountGuard_SeesAndDetachesAMountUnderTheTestDir()
    {
        var guard = MountGuard.Snapshot(TempDir);
        var target = Directory.CreateDirectory(Path.Combine(TempDir, "m")).FullName;
        var mount = ProcessRunner.Run("/bin/mount", new[] { "-t", "tmpfs", "rig-test", target });
        AssertSucceeded(mount, "mount tmpfs");
        Assert.That(guard.NewMounts(), Is.EqualTo(new[] { target }));
        Assert.That(guard.DetachLeaks(), Is.EqualTo(new[] { target }));
        Assert.That(guard.NewMounts(), Is.Empty);
    }

    [Test]
    public void ContainerGuard_FindsAndRemovesALiveContainer()
    {
        var direct = Direct();
        var guard = new ContainerGuard();
        var id = guard.Track(direct, NewId(direct));
        AssertSucceeded(direct.Run("create", "--bundle", NewBundle("g", "sleep", "30").Dir, id), "create");
        AssertSucceeded(direct.Run("start", id), "start");
        Assert.That(guard.Remaining(), Has.Count.EqualTo(1));
        guard.ForceDeleteAll();
        Assert.That(guard.Remaining(), Is.Empty);
        Assert.That(ProcessGuard.KillLeftovers(TempDir, TimeSpan.FromSeconds(15)), Is.Empty, "runtime processes after delete --force");
    }
}
