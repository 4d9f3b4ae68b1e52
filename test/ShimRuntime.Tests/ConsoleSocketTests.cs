namespace Csshim.Tests;

/// <summary>`create --console-socket` with terminal=true: the container gets a pty whose master reaches the caller.</summary>
[PerRuntime]
public class ConsoleSocketTests(string runtime) : IntegrationFixture(runtime)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Test]
    public void CreateWithConsoleSocket_GivesTheContainerATerminal()
    {
        var direct = TerminalOutput(Direct(), "direct");
        var shim = TerminalOutput(Shim(), "shim");
        Assert.That(direct, Does.Contain("TTY-YES"), $"the runtime itself: {direct}");
        Assert.That(shim, Does.Contain("TTY-YES"), $"through csshim: {shim}");
    }

    private string TerminalOutput(RuntimeCli cli, string name)
    {
        // The sleep keeps the slave open until the master has been read.
        var bundle = NewBundle(name, "sh", "-c", "if [ -t 0 ] && [ -t 1 ]; then echo TTY-YES; else echo TTY-NO; fi; sleep 2")
            .SetTerminal(true).Save();
        var id = NewId(cli, "tty");
        using var console = new ConsoleSocketReceiver(Path.Combine(TempDir, name + ".sock"));
        var pidFile = Path.Combine(TempDir, name + ".pid");
        AssertSucceeded(cli.Run("create", "--bundle", bundle.Dir, "--console-socket", console.SocketPath, "--pid-file", pidFile, id),
            $"{cli.Label} create --console-socket");
        console.WaitForMaster(Wait);
        AssertSucceeded(cli.Run("start", id), $"{cli.Label} start");
        var output = console.ReadUntil("TTY-", Wait);
        WaitForStop(cli, id, ContainerExit.ReadPidFile(pidFile));
        AssertSucceeded(cli.Run("delete", id), $"{cli.Label} delete");
        return output;
    }
}
