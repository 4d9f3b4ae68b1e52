namespace Csshim.ShimRuntime.Commands;

/// <summary>`delete`: forward, then remove the staging once the runtime no longer has the container.</summary>
internal static class DeleteCommand
{
    public static int Run(Invocation invocation, ShimLog log)
    {
        var id = invocation.Subcommand.ContainerId;
        var stager = new Staging.Stager(invocation);
        Staging.ContainerStage stage;
        try
        {
            if (id is null || !(stage = stager.StageFor(id)).Exists) return CommandRouter.Forward(invocation);
        }
        catch (ShimException)
        {
            return CommandRouter.Forward(invocation); // an id csshim cannot stage is the runtime's to refuse
        }

        int status = RuntimeProcess.Spawn(invocation.Runtime.Path, invocation.RuntimeArgs());
        try
        {
            if (!RuntimeQueries.Knows(invocation, id)) stager.Unstage(stage, restoreConfig: true);
        }
        catch (ShimException e)
        {
            log.Error($"container \"{id}\" deleted, but its staging {stage.Dir} remains: {e.Message}");
            return status == 0 ? 1 : status;
        }
        return status;
    }
}
