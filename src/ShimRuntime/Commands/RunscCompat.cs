using Csshim.OciSpec;
using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;

namespace Csshim.ShimRuntime.Commands;

/// <summary>Where runsc answers a call that clients make of every runc-style runtime differently from runc, csshim
/// bridges the difference; for runc and crun these calls are forwarded unchanged.</summary>
internal static class RunscCompat
{
    /// <summary>`kill`: runsc refuses to signal a container still in "created" (its start failed), so containerd's
    /// kill-then-delete after a failed start leaves the sandbox and the shim behind. runc kills such a container; for
    /// runsc the same end is `delete --force`, after which the client's own delete finds nothing, as it expects.</summary>
    public static int Kill(CommandCall call)
    {
        var invocation = call.Invocation;
        if (invocation.Runtime.Flavor != RuntimeFlavor.Runsc || invocation.Subcommand.ContainerId is not { } id)
            return Router.Forward(invocation);
        if (RuntimeQueries.Status(invocation, id) != "created") return Router.Forward(invocation);
        return RuntimeProcess.Spawn(invocation.Runtime.Path, [.. invocation.Command.GlobalArgs, "delete", "--force", id]).Propagate();
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
