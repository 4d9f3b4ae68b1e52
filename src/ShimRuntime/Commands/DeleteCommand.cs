using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Settings;
using Csshim.ShimRuntime.Staging;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`delete`: forward, then remove the staging once the runtime no longer has the container. A delete never
/// unmounts under a container that is still starting: while the csshim that creates it runs, the delete waits.</summary>
internal static class DeleteCommand
{
    /// <summary>How long a create may take before a racing delete gives up on it.</summary>
    private static readonly TimeSpan CreatorWait = TimeSpan.FromSeconds(60);

    public static int Run(CommandCall call)
    {
        var invocation = call.Invocation;
        var id = invocation.Subcommand.ContainerId;
        ContainerStage stage;
        try
        {
            if (id is null || !(stage = new Stager(invocation).StageFor(id)).Exists) return Router.Forward(invocation);
        }
        catch (ShimException)
        {
            return Router.Forward(invocation); // an id csshim cannot stage is the runtime's to refuse
        }
        WaitForCreate(stage);

        var exit = RuntimeProcess.Spawn(invocation.Runtime.Path, invocation.RuntimeArgs());
        try
        {
            // A delete that succeeded removed the container (runc, crun and runsc all say so by status 0): asking again
            // would cost a runtime call (about 20 ms on runsc). After a failed delete the runtime is asked.
            bool gone = exit.ShellStatus == 0 || !RuntimeQueries.Knows(invocation, id);
            // A foreground run's csshim unstages when its run ends; a create that began meanwhile owns its new staging.
            if (gone) Stager.Unstage(stage, unlessInUse: true);
        }
        catch (ShimException e)
        {
            call.Log.Error($"the staging {stage.Dir} of container \"{id}\" remains: {e.Message}");
            return exit.ShellStatus == 0 ? 1 : exit.Propagate();
        }
        return exit.Propagate();
    }

    /// <summary>While the csshim of a `create` (or a detached `run`) of this id runs, its container may not exist for
    /// the runtime yet (or its create may still fail and roll back): wait for that csshim to finish before deleting.
    /// A foreground run's csshim lives as long as its container and is not waited for.</summary>
    private static void WaitForCreate(ContainerStage stage)
    {
        for (var deadline = DateTime.UtcNow + CreatorWait; ; Thread.Sleep(20))
        {
            var record = StageRecord.Load(stage.RecordFile);
            if (record is not { Foreground: false, HasLiveCreatorOtherThanMe: true }) return;
            if (DateTime.UtcNow > deadline)
                throw new ShimException($"container \"{stage.Id}\" is still being created (csshim pid {record.Creator!.Pid}) after {CreatorWait.TotalSeconds} s; not deleting it under a starting container");
        }
    }
}
