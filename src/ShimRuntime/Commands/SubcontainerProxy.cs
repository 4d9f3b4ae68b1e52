using System.Runtime.InteropServices;
using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Settings;
using Csshim.ShimRuntime.Staging;

namespace Csshim.ShimRuntime.Commands;

/// <summary>
/// The process that stands for a runsc sub-container towards containerd's runc shim (<see cref="RunscSubcontainers"/>):
/// `csshim [globals] runsc-subcontainer-proxy ID SHIM-PID stdio|terminal`. It keeps the stdio create was given until
/// start takes it, then runs `runsc wait` and exits with the container's exit status. Its pid is the one in the
/// shim's pid file, so its exit is the container's exit. It ends with the shim (nobody would read its status), and
/// keeps nothing of the container's stdio once start has it: the container's output ends when the container does.
/// </summary>
internal static partial class SubcontainerProxy
{
    public const string Command = "runsc-subcontainer-proxy";

    /// <summary>Reported when `runsc wait` cannot say (the sandbox went away under the container): killed.</summary>
    private const int StatusUnknown = 137;
    private static readonly TimeSpan ShimCheckInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>The caller's global words (csshim's own flags included) exactly as given: the proxy resolves the same
    /// runtime, root and settings as the call that launched it.</summary>
    public static string[] GlobalsAsCalled(CommandCall call) =>
        call.Argv.Take(call.Argv.Count - call.First.SubcommandArgs.Count - 1).ToArray();

    /// <summary>Starts the proxy with csshim's stdio (the container's, as the shim gave it to create) and waits until it
    /// has published its record.</summary>
    public static ProxyRecord Launch(CommandCall call, string id, TimeSpan timeout)
    {
        var invocation = call.Invocation;
        var spec = Csshim.OciSpec.BundleSpec.Load(Path.GetFullPath(invocation.Subcommand.Value("bundle") ?? "."));
        bool terminal = spec.Document["process"]?["terminal"]?.GetValueKind() == JsonValueKind.True;
        var psi = new ProcessStartInfo(Router.SelfPath) { UseShellExecute = false };
        foreach (var word in GlobalsAsCalled(call)) psi.ArgumentList.Add(word);
        foreach (var word in new[] { Command, id, Syscall.getppid().ToString(), terminal ? "terminal" : "stdio" })
            psi.ArgumentList.Add(word);
        using var proxy = Process.Start(psi) ?? throw new ShimException("cannot start the stdio proxy");
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (ProxyRecord.Load(invocation, id) is { } record && record.Pid == proxy.Id) return record;
            if (proxy.WaitForExit(10))
                throw new ShimException($"the stdio proxy exited with status {proxy.ExitCode} before it was ready");
        }
        proxy.Kill();
        throw new ShimException($"the stdio proxy was not ready after {timeout.TotalSeconds}s");
    }

    public static int Run(CommandCall call)
    {
        var invocation = call.Invocation;
        var log = call.Log;
        var args = invocation.Subcommand.Positionals;
        if (args.Count != 3 || !int.TryParse(args[1], out int shimPid))
            throw CommandTable.Named(Command).UsageError("started by create, not by hand");
        var id = args[0];
        // First of all: from here on nothing csshim writes can reach the container's log.
        var held = HoldStdio();
        using var shim = ProxyHandle.OpenPid(shimPid)
                         ?? throw new ShimException($"runsc sub-container \"{id}\": shim pid {shimPid} is gone");
        var recordPath = ProxyRecord.PathFor(invocation, id);
        using var started = new ManualResetEventSlim();
        using var onStart = PosixSignalRegistration.Create((PosixSignal)10 /* SIGUSR1 */, ctx =>
        {
            ctx.Cancel = true;
            started.Set();
        });
        try
        {
            var self = ProcessIdentity.Current();
            new ProxyRecord(self.Pid, self.StartTicks, held, args[2] == "terminal").Save(recordPath);
            while (!started.Wait(ShimCheckInterval))
                if (shim.HasExited) return StatusUnknown;
            foreach (var fd in held) Syscall.close(fd);
            return WaitForContainer(invocation, id, shim, log);
        }
        finally
        {
            File.Delete(recordPath);
        }
    }

    /// <summary>Moves fds 0-2 out of the way (close-on-exec copies, so `runsc wait` does not inherit them) and puts
    /// /dev/null in their place: nothing the proxy or its child writes may reach the container's log.</summary>
    private static int[] HoldStdio()
    {
        var held = new int[3];
        for (int fd = 0; fd < 3; fd++)
        {
            held[fd] = Linux.fcntl(fd, Linux.F_DUPFD_CLOEXEC, 10);
            if (held[fd] < 0) throw new ShimException($"cannot keep fd {fd}: {Linux.Error(Linux.LastErrno)}");
        }
        int devnull = Linux.Open("/dev/null", Linux.O_RDWR, 0);
        if (devnull < 0) throw new ShimException($"cannot open /dev/null: {Linux.Error(Linux.LastErrno)}");
        for (int fd = 0; fd < 3; fd++) Syscall.dup2(devnull, fd);
        Syscall.close(devnull);
        return held;
    }

    private static int WaitForContainer(Invocation invocation, string id, ProxyHandle shim, ShimLog log)
    {
        var psi = new ProcessStartInfo(invocation.Runtime.Path)
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        foreach (var word in WithoutLog(invocation)) psi.ArgumentList.Add(word);
        psi.ArgumentList.Add("wait");
        psi.ArgumentList.Add(id);
        using var wait = Process.Start(psi) ?? throw new ShimException($"cannot start {invocation.Runtime.Path} wait");
        wait.StandardInput.Close();
        var stdout = wait.StandardOutput.ReadToEndAsync();
        var stderr = wait.StandardError.ReadToEndAsync();
        while (!wait.WaitForExit(ShimCheckInterval))
        {
            if (!shim.HasExited) continue;
            wait.Kill();
            return StatusUnknown;
        }
        wait.WaitForExit();
        if (wait.ExitCode == 0 && ExitStatusOf(stdout.Result) is { } status) return status;
        // A warning, not an error: the shim reports the last error line of --log as the failure of its next call.
        log.Warning($"runsc sub-container \"{id}\": runsc wait gave no status ({stderr.Result.Trim()}); reporting it killed");
        return StatusUnknown;
    }

    /// <summary>runsc wait prints {"id":"...","exitStatus":N}, N already 128+signal for a killed container.</summary>
    private static int? ExitStatusOf(string waitOutput)
    {
        try
        {
            return JsonNode.Parse(waitOutput)?["exitStatus"]?.GetValue<int>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The runtime's global flags without --log/--log-format: the shim reports the last error line of that
    /// file as a call's failure, and a wait that fails because the pod is gone is no such failure.</summary>
    private static IEnumerable<string> WithoutLog(Invocation invocation)
    {
        var globals = invocation.Command.GlobalArgs;
        var dropped = invocation.Command.GlobalFlags.Where(f => f.Name is "log" or "log-format")
            .SelectMany(f => Enumerable.Range(f.Index, f.WordCount)).ToHashSet();
        return globals.Where((_, i) => !dropped.Contains(i));
    }
}

/// <summary>A process held by a pidfd, so that a pid reused after it exits is never signalled or read from.</summary>
internal sealed class ProxyHandle : IDisposable
{
    private readonly int pidfd;

    private ProxyHandle(int pidfd) => this.pidfd = pidfd;

    /// <summary>The proxy of a record, or null when it is no longer running (checked after the pidfd is held, so the
    /// pidfd is that process's).</summary>
    public static ProxyHandle? Open(ProxyRecord record)
    {
        var handle = OpenPid(record.Pid);
        if (handle is null || new ProcessIdentity(record.Pid, record.StartTicks).IsAlive()) return handle;
        handle.Dispose();
        return null;
    }

    public static ProxyHandle? OpenPid(int pid)
    {
        int fd = Linux.pidfd_open(pid, 0);
        return fd < 0 ? null : new ProxyHandle(fd);
    }

    /// <summary>A pidfd polls readable once its process has exited.</summary>
    public bool HasExited
    {
        get
        {
            var p = new[] { new Pollfd { fd = pidfd, events = PollEvents.POLLIN } };
            return Syscall.poll(p, 0) > 0;
        }
    }

    /// <summary>Copies of the process's fds, close-on-exec, as pidfd_getfd makes them.</summary>
    public int[] TakeFds(IReadOnlyList<int> fds) => fds.Select(fd =>
    {
        int copy = Linux.pidfd_getfd(pidfd, fd, 0);
        return copy >= 0 ? copy : throw new ShimException($"cannot take fd {fd} of the stdio proxy: {Linux.Error(Linux.LastErrno)}");
    }).ToArray();

    public void Signal(int signal) => Linux.pidfd_send_signal(pidfd, signal, IntPtr.Zero, 0);

    public void Dispose() => Syscall.close(pidfd);
}

/// <summary>Puts the container's stdio on fds 0-2 for the runtime csshim spawns, and csshim's own back afterwards (the
/// shim's capture pipe, which then ends with csshim, as it expects).</summary>
internal sealed class StdioSwap : IDisposable
{
    private readonly int[] saved = new int[3];

    private StdioSwap(int[] fds)
    {
        for (int fd = 0; fd < 3; fd++)
        {
            saved[fd] = Linux.fcntl(fd, Linux.F_DUPFD_CLOEXEC, 10);
            Syscall.dup2(fds[fd], fd);
            Syscall.close(fds[fd]);
        }
    }

    public static StdioSwap Install(int[] fds) => new(fds);

    public void Dispose()
    {
        for (int fd = 0; fd < 3; fd++)
        {
            Syscall.dup2(saved[fd], fd);
            Syscall.close(saved[fd]);
        }
    }
}
