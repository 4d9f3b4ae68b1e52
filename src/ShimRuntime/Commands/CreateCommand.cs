using Csshim.OciSpec;
using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Settings;
using Csshim.ShimRuntime.Staging;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`create` and `run`: stage the rootfs, then hand the call to the runtime as a child so a failure can
/// be rolled back and a foreground run cleaned up after.</summary>
internal static class CreateCommand
{
    public static int Run(CommandCall call)
    {
        var invocation = call.Invocation;
        var log = call.Log;
        var sub = invocation.Subcommand;
        var id = sub.ContainerId;
        // A call the runtime will refuse (no id, a flag it does not know) gets the runtime's own usage error, unless
        // its bundle asks for an archive: that must never start without it.
        if (id is null || sub.UnknownFlags.Count > 0)
        {
            UnparsedCreate.RefuseIfAnnotated(invocation, id is null ? "no container id" : $"unknown flag -{sub.UnknownFlags[0]}");
            return Router.Forward(invocation);
        }

        var bundle = Path.GetFullPath(sub.Value("bundle") ?? ".");
        bool foregroundRun = sub.Name == "run" && !sub.IsSet("detach") && !sub.IsSet("keep");
        var stage = new Stager(invocation).Stage(id, bundle, sub.Name, foregroundRun, log);

        // Held until the cleanup after the runtime is done: a signal then must not leave the staging half removed.
        using var relay = new SignalRelay();
        ChildExit exit;
        try
        {
            exit = RuntimeProcess.Spawn(invocation.Runtime.Path, invocation.RuntimeArgs(StagedRuntimeFlags(invocation, log, id)),
                onStarted: () => FaultPoint.Reach("forwarding"), relay);
        }
        catch
        {
            Stager.Unstage(stage);
            throw;
        }

        if (foregroundRun)
            EndForegroundRun(invocation, stage, log);
        else if (exit.ShellStatus != 0)
            UnstageUnlessKnown(invocation, stage, log);
        return exit.Propagate();
    }

    /// <summary>runc and crun delete the container when a foreground run ends; runsc, stopped by a signal, keeps a
    /// stopped (2022) or even running (2024) record of it. Either way nothing of the run may stay behind. Only runsc
    /// gets a `delete --force`, without asking first (one runtime call instead of two; "does not exist" is fine).</summary>
    private static void EndForegroundRun(Invocation invocation, ContainerStage stage, ShimLog log)
    {
        if (invocation.Runtime.Flavor == RuntimeFlavor.Runsc)
        {
            var (status, _, stderr) = RuntimeQueries.Ask(invocation, "delete", "--force", stage.Id);
            if (status != 0 && !RuntimeQueries.SaysUnknown(stderr))
                log.Warning($"after the run of \"{stage.Id}\": {invocation.Runtime.Path} delete --force failed: {stderr.Trim()}");
        }
        Stager.Unstage(stage);
    }

    /// <summary>A failed create normally leaves no container; if the runtime kept one, its staging must stay. A
    /// runtime that cannot even answer is taken at its word that the create failed.</summary>
    private static void UnstageUnlessKnown(Invocation invocation, ContainerStage stage, ShimLog log)
    {
        bool known;
        try
        {
            known = RuntimeQueries.Knows(invocation, stage.Id);
        }
        catch (ShimException e)
        {
            log.Warning($"create of \"{stage.Id}\" failed and the runtime cannot say whether it kept the container ({e.Message}); removing its staging");
            known = false;
        }
        if (!known) Stager.Unstage(stage);
    }

    /// <summary>runsc's own rootfs overlay would keep the container's writes inside the sandbox, away from the
    /// staged upper; and its gofer opens FIFOs of a host rootfs only when told to (the staged rootfs is private).</summary>
    public static IEnumerable<string> StagedRuntimeFlags(Invocation invocation, ShimLog log, string id)
    {
        if (invocation.Runtime.Flavor != RuntimeFlavor.Runsc) yield break;
        var command = invocation.Command;
        if (command.HasGlobal("overlay2"))
            log.Warning($"--overlay2 was set explicitly: runsc keeps writes inside the sandbox, so snapshots of \"{id}\" will miss them");
        else
            yield return "--overlay2=none";
        if (!command.HasGlobal("host-fifo")) yield return "--host-fifo=open";
    }
}
