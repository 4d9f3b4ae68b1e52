namespace Csshim.Tests;

/// <summary>
/// The command-line shapes real clients use (podman's `--root=R`, the bundle from the working directory,
/// containerd's `exec --process`, podman's tty exec) and flags csshim does not know: all must reach the runtime
/// with the result the runtime alone gives.
/// </summary>
[PerRuntime]
public class ArgumentFormsTests(string runtime) : IntegrationFixture(runtime)
{
    private const string Script = "echo out; echo err >&2; exit 5";

    [Test]
    public void Run_WithoutBundleFlag_UsesTheWorkingDirectory()
    {
        var (direct, dId, shim, sId) = SideBySide("cwd");
        var d = direct.RunIn(NewBundle("direct", "sh", "-c", Script).Dir, "run", dId);
        var s = shim.RunIn(NewBundle("shim", "sh", "-c", Script).Dir, "run", sId);
        Assert.That(d.ExitCode, Is.EqualTo(5), d.ToString());
        AssertSameOutcome("run from the bundle dir", d, dId, s, sId);
    }

    [Test]
    public void Run_WithRootInEqualsForm_WorksAndUnstages()
    {
        var shim = Shim("eq", rootEqualsForm: true);
        var id = NewId(shim, "eq");
        var s = shim.Run("run", "--bundle", NewBundle("shim", "sh", "-c", Script).Dir, id);
        Assert.Multiple(() =>
        {
            Assert.That(s.ExitCode, Is.EqualTo(5), s.ToString());
            Assert.That(s.Stdout, Is.EqualTo("out\n"));
            Assert.That(NewMounts(), Is.Empty, "staging mounts after run");
        });
    }

    [Test]
    public void Run_WithShortBundleFlag_BehavesLikeTheRuntime()
    {
        // runc knows `-b`; runsc does not and fails with its usage text. csshim must not decide either way.
        var (direct, dId, shim, sId) = SideBySide("short");
        var d = direct.Run("run", "-b", NewBundle("direct", "sh", "-c", Script).Dir, dId);
        var s = shim.Run("run", "-b", NewBundle("shim", "sh", "-c", Script).Dir, sId);
        AssertSameOutcome("run -b", d, dId, s, sId);
    }

    [Test]
    public void Create_WithAFlagNoRuntimeKnows_FailsLikeTheRuntime()
    {
        var (direct, dId, shim, sId) = SideBySide("bad");
        var d = direct.Run("create", "--no-such-flag", "--bundle", NewBundle("direct", "true").Dir, dId);
        var s = shim.Run("create", "--no-such-flag", "--bundle", NewBundle("shim", "true").Dir, sId);
        Assert.That(d.ExitCode, Is.Not.Zero, d.ToString());
        AssertSameOutcome("create --no-such-flag", d, dId, s, sId);
        Assert.That(NewMounts(), Is.Empty, "csshim left its staging after the runtime refused the command line");
    }

    [Test]
    public void Run_FifoAndWritesInsideTheContainer_BehaveLikeTheRuntime()
    {
        // runsc's gofer refuses host FIFOs unless told otherwise; csshim's staged rootfs is a host overlay.
        const string script = "mkfifo /tmp/f && echo fifo-ok; ls -l /tmp/f | cut -c1; echo data > /root/y; cat /root/y; " +
                              "rm /bin/ls && echo rm-ok; mkdir -p /a/b && echo mkdir-ok";
        var (direct, dId, shim, sId) = SideBySide("fifo");
        var d = direct.Run("run", "--bundle", NewBundle("direct", "sh", "-c", script).Dir, dId);
        var shimBundle = NewBundle("shim", "sh", "-c", script);
        var s = shim.Run("run", "--bundle", shimBundle.Dir, sId);
        AssertSameOutcome("writes in the container", d, dId, s, sId);
        Assert.That(new FileInfo(Path.Combine(shimBundle.Rootfs, "bin", "ls")).LinkTarget, Is.EqualTo("busybox"),
            "a delete inside the container reached the bundle's rootfs");
    }

    [Test]
    public void RunDetach_KeepsTheStagingUntilDelete()
    {
        var shim = Shim();
        var id = NewId(shim, "detach");
        AssertSucceeded(shim.Run("run", "--detach", "--bundle", NewBundle("shim", "sleep", "30").Dir, id), "csshim run --detach");
        WaitForStatus(shim, id, "running");
        Assert.That(NewMounts(), Is.Not.Empty, "no staging mount under a detached container");
        AssertSucceeded(shim.Run("exec", id, "sh", "-c", "echo live > /tmp/live"), "csshim exec into a detached run");
        AssertSucceeded(shim.Run("delete", "--force", id), "csshim delete --force");
        Assert.That(NewMounts(), Is.Empty, "staging mounts after delete --force");
    }

    [Test]
    public void ContainerdsGlobalsAndSequence_WorkThroughCsshim()
    {
        // containerd-shim-runc-v2: `--root R --log B/log.json --log-format json` before every command.
        var shim = Shim();
        var bundle = NewBundle("shim", "sleep", "30");
        var log = Path.Combine(bundle.Dir, "log.json");
        var globals = new[] { "--log", log, "--log-format", "json" };
        var id = NewId(shim, "ctrd");
        CommandResult Step(params string[] args)
        {
            var r = shim.RunWithGlobals(globals, args);
            AssertSucceeded(r, "csshim " + string.Join(' ', args));
            return r;
        }
        Step("create", "--bundle", bundle.Dir, "--pid-file", Path.Combine(bundle.Dir, "init.pid"), id);
        Step("start", id);
        WaitForStatus(shim, id, "running");
        Step("ps", "--format", "json", id);
        Step("kill", "--all", id, "9");
        WaitForStop(shim, id, ContainerExit.ReadPidFile(Path.Combine(bundle.Dir, "init.pid")));
        Step("delete", id);
        Assert.That(NewMounts(), Is.Empty, "staging mounts after delete");
        // Whatever the runtime or csshim logged must stay machine-readable: containerd parses every line.
        if (File.Exists(log))
            foreach (var line in File.ReadAllLines(log).Where(l => l.Length > 0))
                Assert.DoesNotThrow(() => Newtonsoft.Json.Linq.JObject.Parse(line), $"log line is not JSON: {line}");
    }

    [Test]
    public void ExecWithProcessFileDetachedAndPidFile_LikeContainerd()
    {
        var direct = ExecProcessFile(Direct(), "direct");
        var shim = ExecProcessFile(Shim(), "shim");
        Assert.That(direct, Is.EqualTo("from-process-file"), "the runtime itself");
        Assert.That(shim, Is.EqualTo(direct), "through csshim");
    }

    /// <summary>containerd's exec: a process.json, --detach, --pid-file; returns what the process wrote.</summary>
    private string ExecProcessFile(RuntimeCli cli, string name)
    {
        var bundle = NewBundle(name, "sleep", "30");
        var id = NewId(cli, "execp");
        AssertSucceeded(cli.Run("create", "--bundle", bundle.Dir, id), $"{cli.Label} create");
        AssertSucceeded(cli.Run("start", id), $"{cli.Label} start");
        var process = (Newtonsoft.Json.Linq.JObject)bundle.Process.DeepClone();
        process["args"] = new Newtonsoft.Json.Linq.JArray("sh", "-c", "echo from-process-file > /tmp/out");
        var processFile = Path.Combine(TempDir, name + "-process.json");
        File.WriteAllText(processFile, process.ToString());
        var pidFile = Path.Combine(TempDir, name + "-exec.pid");
        AssertSucceeded(cli.Run("exec", "--process", processFile, "--detach", "--pid-file", pidFile, id), $"{cli.Label} exec --process");
        Assert.That(int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) && pid > 0, Is.True, $"{cli.Label}: exec pid file");
        string output = "";
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var cat = cli.Run("exec", id, "cat", "/tmp/out");
            if (cat.ExitCode == 0 && cat.Stdout.Length > 0) { output = cat.Stdout.Trim(); break; }
            Thread.Sleep(200);
        }
        AssertSucceeded(cli.Run("delete", "--force", id), $"{cli.Label} delete --force");
        return output;
    }

    [Test]
    public void ExecWithTtyAndConsoleSocket_LikePodman()
    {
        var direct = ExecTty(Direct(), "direct");
        var shim = ExecTty(Shim(), "shim");
        Assert.That(direct, Does.Contain("EXEC-TTY-YES"), "the runtime itself");
        Assert.That(shim, Does.Contain("EXEC-TTY-YES"), "through csshim");
    }

    private string ExecTty(RuntimeCli cli, string name)
    {
        var bundle = NewBundle(name, "sleep", "30");
        var id = NewId(cli, "exectty");
        AssertSucceeded(cli.Run("create", "--bundle", bundle.Dir, id), $"{cli.Label} create");
        AssertSucceeded(cli.Run("start", id), $"{cli.Label} start");
        using var console = new ConsoleSocketReceiver(Path.Combine(TempDir, name + "-exec.sock"));
        var pidFile = Path.Combine(TempDir, name + "-exec.pid");
        var command = new[] { "sh", "-c", "[ -t 1 ] && echo EXEC-TTY-YES || echo EXEC-TTY-NO; sleep 1" };
        var common = new[] { "exec", "--pid-file", pidFile, "--detach", "--console-socket", console.SocketPath };
        string[] args;
        if (Runtime.IsRunsc)
        {
            // runsc's exec has no --tty: the terminal comes from the process spec.
            var process = (Newtonsoft.Json.Linq.JObject)bundle.Process.DeepClone();
            process["args"] = new Newtonsoft.Json.Linq.JArray(command);
            process["terminal"] = true;
            var processFile = Path.Combine(TempDir, name + "-tty-process.json");
            File.WriteAllText(processFile, process.ToString());
            args = common.Concat(new[] { "--process", processFile, id }).ToArray();
        }
        else
            args = common.Concat(new[] { "--tty", id }).Concat(command).ToArray();
        AssertSucceeded(cli.Run(args), $"{cli.Label} exec with a terminal");
        var output = console.ReadUntil("EXEC-TTY-", TimeSpan.FromSeconds(30));
        AssertSucceeded(cli.Run("delete", "--force", id), $"{cli.Label} delete --force");
        return output;
    }
}
