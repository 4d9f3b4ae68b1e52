namespace Csshim.Tests;

/// <summary>A foreground `run` stopped by a signal, as a supervisor (TERM) or a person's Ctrl-C (INT) would: csshim
/// must end the way the runtime alone ends — killed by the same signal, or with the same exit status.</summary>
[PerRuntime]
public class SignalTests(string runtime) : IntegrationFixture(runtime)
{
    [TestCase(Native.SIGTERM)]
    [TestCase(Native.SIGINT)]
    public void SignalToForegroundRun_EndsLikeTheRuntime_AndLeavesNoContainer(int signal)
    {
        // Both at once: runc forwards the signal to sleep, which as pid 1 ignores it, so each run takes the full 30 s.
        var (direct, directId, shim, shimId) = SideBySide("sig");
        using var directRun = direct.Spawn("run", "--bundle", NewBundle("direct", "sleep", "30").Dir, directId);
        using var shimRun = shim.Spawn("run", "--bundle", NewBundle("shim", "sleep", "30").Dir, shimId);
        WaitForStatus(RuntimeCli.Direct(Runtime, direct.RootDir), directId, "running");
        WaitForStatus(RuntimeCli.Direct(Runtime, shim.RootDir), shimId, "running");

        directRun.Signal(signal);
        shimRun.Signal(signal);
        var d = directRun.Wait(TimeSpan.FromSeconds(60));
        var s = shimRun.Wait(TimeSpan.FromSeconds(60));
        TestContext.Out.WriteLine($"signal {signal}: the runtime {d.Status}, csshim {s.Status}");

        // runsc's own run can end on the signal without deleting its container; that one is not csshim's to judge.
        RuntimeCli.Direct(Runtime, direct.RootDir).Run("delete", "--force", directId);
        Assert.Multiple(() =>
        {
            Assert.That(s.Status.Outcome, Is.EqualTo(d.Status.Outcome), $"how the run ended\nruntime: {d}\ncsshim: {s}");
            var left = RuntimeCli.Direct(Runtime, shim.RootDir).Run("state", shimId);
            Assert.That(left.ExitCode, Is.Not.Zero, $"the container outlived csshim run: {left.Stdout}");
            Assert.That(NewMounts().Where(m => m.StartsWith(shim.ShimStateDir!)), Is.Empty, "staging mounts after run ended");
        });
    }
}
