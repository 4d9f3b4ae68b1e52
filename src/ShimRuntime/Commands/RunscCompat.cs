using Csshim.OciSpec;
using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;

namespace Csshim.ShimRuntime.Commands;

/// <summary>Where runsc answers a call that clients make of every runc-style runtime differently from runc, csshim
/// bridges the difference; for runc and crun these calls are forwarded unchanged.</summary>
internal static class RunscCompat
{
    /// <summary>`kill`, where runsc answers differently from runc for a container that is not running:
    /// <list type="bullet">
    /// <item>"created" (its start failed): runsc refuses to signal it, so containerd's kill-then-delete after a failed
    ///   start leaves the sandbox and the shim behind. runc kills such a container; for runsc the same end is
    ///   `delete --force` (and the end of a pod sub-container's stdio proxy), after which the client's own delete finds
    ///   nothing, as it expects.</item>
    /// <item>"stopped": runsc says "sandbox is not running" (status 128), which containerd's shim does not read as
    ///   "already gone" (it knows runc's "container not running"): the exit is never handled and StopPodSandbox hangs.
    ///   csshim answers as runc does.</item>
    /// </list></summary>
    public static int Kill(CommandCall call)
    {
        var invocation = call.Invocation;
        if (invocation.Runtime.Flavor != RuntimeFlavor.Runsc || invocation.Subcommand.ContainerId is not { } id)
            return Router.Forward(invocation);
        switch (RuntimeQueries.Status(invocation, id))
        {
            case "created":
                var exit = RuntimeProcess.Spawn(invocation.Runtime.Path, [.. invocation.Command.GlobalArgs, "delete", "--force", id]);
                RunscSubcontainers.EndProxy(invocation, id);
                return exit.Propagate();
            case "stopped":
                throw new ShimException($"container not running (runsc keeps stopped container \"{id}\" until delete)");
            default:
                return Router.Forward(invocation);
        }
    }

    /// <summary>`exec --tty`: runsc has no such flag (the terminal comes from the process spec), and conmon passes it
    /// for `podman exec -t`; it is dropped for runsc instead of failing the exec.</summary>
    public static int Exec(CommandCall call)
    {
        var invocation = call.Invocation;
        var sub = invocation.Subcommand;
        var tty = sub.Flags.Where(f => f.Name is "tty" or "t").ToList();
        if (invocation.Runtime.Flavor != RuntimeFlavor.Runsc || tty.Count == 0) return Router.Forward(invocation);
        var dropped = tty.SelectMany(f => Enumerable.Range(f.Index, f.WordCount)).ToHashSet();
        var args = invocation.Command.SubcommandArgs.Where((_, i) => !dropped.Contains(i)).ToList();
        RuntimeProcess.Exec(invocation.Runtime.Path, invocation.Command.ToRuntimeArgs(replacedSubcommandArgs: args));
        return 1; // Exec returns only by throwing
    }
}
