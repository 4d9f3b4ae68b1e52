using Csshim.TarLayer.Posix;
using System.Text.Json.Nodes;
using Csshim.OciSpec;
using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Settings;
using Csshim.ShimRuntime.Staging;

namespace Csshim.ShimRuntime.Commands;

/// <summary>
/// runsc pods under containerd's runc shim (`runtime_type = "io.containerd.runc.v2"`, what csshim's containerd entry
/// uses). containerd marks a pod's app containers `io.kubernetes.cri.container-type=container`, and runsc runs them
/// as sub-containers inside the pod's sandbox. Two things the runc shim relies on then do not hold:
/// <list type="bullet">
/// <item>stdio: runc makes the container's process at `create`, with the IO the shim gives create. runsc makes a
///   sub-container's process at `start` and hands it `start`'s own stdio — which the shim captures through a pipe it
///   reads to the end. The sandbox keeps that pipe as the container's stdout, so `start` never returns (the shim
///   waits in go-runc's output copy) and StartContainer hangs.</item>
/// <item>exit: the shim sees a container end when the pid in --pid-file exits. For a sub-container runsc writes the
///   sandbox's pid, which outlives it: StopContainer would wait forever.</item>
/// </list>
/// The bridge does what gVisor's own shim does for runsc (IO given at start, `runsc wait` for the exit status): after
/// create, a <see cref="SubcontainerProxy"/> holds create's stdio and its pid replaces the sandbox's in the pid file.
/// `start` takes the proxy's stdio (pidfd_getfd) and gives it to runsc's start; the proxy then runs `runsc wait` and
/// exits with the container's status, which the shim reaps as the container's exit.
/// (A third difference, runsc's answer to a kill of a stopped container, is bridged for every runsc container in
/// <see cref="RunscCompat.Kill"/>.)
/// </summary>
internal static class RunscSubcontainers
{
    private const string ContainerTypeKey = "io.kubernetes.cri.container-type";
    private const int SIGUSR1 = 10;
    private static readonly TimeSpan ProxyReadyTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Whether this call is one the bridge takes over: a runsc sub-container's create (with the --pid-file
    /// the shim reads), and start or delete of a container that has a proxy.</summary>
    public static bool Handles(Invocation invocation) =>
        invocation.Runtime.Flavor == RuntimeFlavor.Runsc && invocation.Command.Subcommand switch
        {
            "create" => IsSubcontainerCreate(invocation),
            "start" or "delete" => invocation.Subcommand.ContainerId is { } id && ProxyRecord.Exists(invocation, id),
            _ => false,
        };

    public static int Run(CommandCall call) => call.Invocation.Command.Subcommand switch
    {
        "create" => Create(call),
        "start" => Start(call),
        _ => Delete(call),
    };

    private static bool IsSubcontainerCreate(Invocation invocation)
    {
        var sub = invocation.Subcommand;
        if (sub.ContainerId is null || sub.UnknownFlags.Count > 0 || sub.Value("pid-file") is null) return false;
        try
        {
            return BundleSpec.Load(Path.GetFullPath(sub.Value("bundle") ?? ".")).Annotations
                .TryGetValue(ContainerTypeKey, out var type) && type == "container";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // create reports the unreadable bundle itself
        }
    }

    /// <summary>The usual create; then the proxy takes over create's stdio and the pid file.</summary>
    private static int Create(CommandCall call)
    {
        var invocation = call.Invocation;
        var log = call.Log;
        int status = CreateCommand.Run(call);
        if (status != 0) return status;
        var sub = invocation.Subcommand;
        var id = sub.ContainerId!;
        try
        {
            var proxy = SubcontainerProxy.Launch(call, id, ProxyReadyTimeout);
            WritePidFile(Path.GetFullPath(sub.Value("pid-file")!), proxy.Pid);
            return 0;
        }
        catch (ShimException e)
        {
            log.Error($"runsc sub-container \"{id}\": {e.Message}; removing the container");
            RuntimeProcess.Spawn(Router.SelfPath, [.. SubcontainerProxy.GlobalsAsCalled(call), "delete", "--force", id]);
            return 1;
        }
    }

    /// <summary>runsc's start with the container's stdio, taken from the proxy; then the proxy is told to wait.</summary>
    private static int Start(CommandCall call)
    {
        var invocation = call.Invocation;
        var id = invocation.Subcommand.ContainerId!;
        var record = ProxyRecord.Load(invocation, id)
                     ?? throw new ShimException($"runsc sub-container \"{id}\": its stdio proxy record is unreadable");
        using var proxy = ProxyHandle.Open(record)
                          ?? throw new ShimException($"runsc sub-container \"{id}\": its stdio proxy (pid {record.Pid}) is gone; delete and create it again");
        // runsc 2024 starts a sub-container's gofer at `start`, with start's flags: without the staged rootfs flags the
        // gofer keeps the container's writes in a filestore of runsc's own inside the rootfs, which a snapshot would archive.
        var args = invocation.RuntimeArgs(CreateCommand.StagedRuntimeFlags(invocation, call.Log, id));
        ChildExit status;
        if (record.Terminal)
        {
            // runsc gave a terminal container its TTY at create already.
            status = RuntimeProcess.Spawn(invocation.Runtime.Path, args);
        }
        else
        {
            using var stdio = StdioSwap.Install(proxy.TakeFds(record.Stdio));
            status = RuntimeProcess.Spawn(invocation.Runtime.Path, args);
        }
        if (status.ShellStatus == 0) proxy.Signal(SIGUSR1);
        return status.Propagate();
    }

    private static int Delete(CommandCall call)
    {
        EndProxy(call.Invocation, call.Invocation.Subcommand.ContainerId!);
        return DeleteCommand.Run(call);
    }

    /// <summary>A proxy that stands for a container's process must end as runc's process would, or the shim waits for
    /// an exit that never comes.</summary>
    public static void EndProxy(Invocation invocation, string id)
    {
        if (ProxyRecord.Load(invocation, id) is { } record)
            using (var proxy = ProxyHandle.Open(record))
                proxy?.Signal(Linux.SIGKILL);
        ProxyRecord.Remove(invocation, id);
    }

    /// <summary>As runc writes it (no newline), replaced whole so the shim never reads half a pid.</summary>
    private static void WritePidFile(string path, int pid)
    {
        try
        {
            AtomicFile.WriteText(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ShimException($"cannot write pid file {path}: {e.Message}", inner: e);
        }
    }
}

/// <summary>What the proxy of one sub-container publishes for start, kill and delete: its identity and the fds in it
/// that hold the container's stdin, stdout and stderr. Beside the container's staging
/// (&lt;state-dir&gt;/&lt;hash of --root&gt;/&lt;id&gt;.subcontainer), written by the proxy, removed by it on exit or by delete.</summary>
internal sealed record ProxyRecord(int Pid, long StartTicks, int[] Stdio, bool Terminal)
{
    public static string PathFor(Invocation invocation, string id) =>
        ContainerStage.For(invocation.StateDir, invocation.RuntimeRoot, id).Dir + ".subcontainer";

    public static bool Exists(Invocation invocation, string id) => File.Exists(PathFor(invocation, id));

    public static ProxyRecord? Load(Invocation invocation, string id)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(PathFor(invocation, id)));
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException)
        {
            return null;
        }
        var stdio = node?["stdio"] as JsonArray;
        return node?["pid"] is JsonValue pid && node["startTicks"] is JsonValue ticks && node["terminal"] is JsonValue terminal
               && stdio is { Count: 3 } && stdio.All(fd => fd is JsonValue)
            ? new ProxyRecord(pid.GetValue<int>(), ticks.GetValue<long>(), stdio.Select(fd => fd!.GetValue<int>()).ToArray(), terminal.GetValue<bool>())
            : null;
    }

    public void Save(string path)
    {
        var json = new JsonObject
        {
            ["pid"] = Pid,
            ["startTicks"] = StartTicks,
            ["stdio"] = new JsonArray(Stdio.Select(fd => (JsonNode?)fd).ToArray()),
            ["terminal"] = Terminal,
        };
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        AtomicFile.WriteText(path, UnixFileMode.UserRead | UnixFileMode.UserWrite, json.ToJsonString());
    }

    public static void Remove(Invocation invocation, string id) => File.Delete(PathFor(invocation, id));
}
