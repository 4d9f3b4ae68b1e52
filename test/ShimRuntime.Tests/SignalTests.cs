namespace Csshim.Tests;

/// <summary>A foreground `run` stopped with SIGTERM, as a person's Ctrl-C or a supervisor would.</summary>
[PerRuntime]
public class SignalTests(string runtime) : IntegrationFixture(runtime)
{
    [Test]
    public void SigtermToForegroundRun_EndsLikeTheRuntime_AndLeavesNoContainer()
    {
        // Both at once: runc forwards TERM to sleep, which as pid 1 ignores it, so each run takes the full 30 s.
        var direct = Direct();
        var shim = Shim();
        var directId = NewId(direct, "sig");
        var shimId = NewId(shim, "sig");
        using var directRun = direct.Start("run", "--bundle", NewBundle("direct", "sleep", "30").Dir, directId);
        using var shimRun = shim.Start("run", "--bundle", NewBundle("shim", "sleep", "30").Dir, shimId);
        WaitForStatus(RuntimeCli.Direct(Runtime, direct.RootDir), directId, "running");
        WaitForStatus(RuntimeCli.Direct(Runtime, shim.RootDir), shimId, "running");

        directRun.Signal(Native.SIGTERM);
        shimRun.Signal(Native.SIGTERM);
        var d = directRun.Wait(TimeSpan.FromSeconds(60));
        var s = shimRun.Wait(TimeSpan.FromSeconds(60));

        Assert.That(d.ExitCode, Is.AnyOf(0, 128 + Native.SIGTERM), $"the runtime itself: {d}");
        // runsc's own run exits on TERM without deleting its container; that one is not csshim's to judge.
        RuntimeCli.Direct(Runtime, direct.RootDir).Run("delete", "--force", directId);
        Assert.Multiple(() =>
        {
            Assert.That(s.ExitCode, Is.EqualTo(d.ExitCode), $"exit status\nruntime: {d}\ncsshim: {s}");
            var left = RuntimeCli.Direct(Runtime, shim.RootDir).Run("state", shimId);
            Assert.That(left.ExitCode, Is.Not.Zero, $"the container outlived csshim run: {left.Stdout}");
            Assert.That(NewMounts().Where(m => m.StartsWith(shim.ShimStateDir!)), Is.Empty, "staging mounts after run ended");
        });
    }
}
