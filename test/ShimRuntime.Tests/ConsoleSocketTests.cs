namespace Csshim.Tests;

/// <summary>`--console-socket` with terminal=true, on create and on exec: the process gets a pty whose master
/// reaches the caller.</summary>
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

    /// <summary>
    /// `podman exec -t`: conmon calls `exec --pid-file P --process F --detach --tty --console-socket S ID` with
    /// terminal=true in F. runsc has no `--tty` (its terminal comes from F) and refuses the flag, so csshim drops it
    /// for runsc and forwards the rest; on runc the call goes through unchanged. The exec must run in the container
    /// and its terminal must reach the socket.
    /// </summary>
    [Test]
    public void ExecWithTtyAndConsoleSocket_GivesTheExecATerminal()
    {
        var shim = Shim();
        var bundle = NewBundle("shim", "sleep", "60");
        var id = NewId(shim, "exectty");
        var pidFile = Path.Combine(TempDir, "init.pid");
        AssertSucceeded(shim.Run("create", "--bundle", bundle.Dir, "--pid-file", pidFile, id), "csshim create");
        AssertSucceeded(shim.Run("start", id), "csshim start");
        WaitForStatus(shim, id, "running");

        // The marker is written by the container's first process, so the line proves the exec ran in that container.
        AssertSucceeded(shim.Run("exec", id, "sh", "-c", "echo in-container > /tmp/marker"), "csshim exec (no tty)");
        var process = (JObject)bundle.Process.DeepClone();
        process["terminal"] = true;
        // The sleep keeps the slave open until the master has been read.
        process["args"] = new JArray("sh", "-c",
            "if [ -t 0 ] && [ -t 1 ]; then t=TTY-YES; else t=TTY-NO; fi; echo \"EXEC-$t-$(cat /tmp/marker)\"; sleep 2");
        var processFile = Path.Combine(TempDir, "exec-process.json");
        File.WriteAllText(processFile, process.ToString());

        using var console = new ConsoleSocketReceiver(Path.Combine(TempDir, "exec.sock"));
        var exec = shim.Run("exec", "--pid-file", Path.Combine(TempDir, "exec.pid"), "--process", processFile, "--detach",
            "--tty", "--console-socket", console.SocketPath, id);
        AssertSucceeded(exec, "csshim exec --tty --console-socket");
        console.WaitForMaster(Wait);
        var output = console.ReadUntil("in-container", Wait);
        Assert.That(output, Does.Contain("EXEC-TTY-YES-in-container"), $"what the exec wrote to its terminal: {output}");

        AssertSucceeded(shim.Run("kill", id, "KILL"), "csshim kill");
        WaitForStop(shim, id, ContainerExit.ReadPidFile(pidFile));
        AssertSucceeded(shim.Run("delete", id), "csshim delete");
    }
}
