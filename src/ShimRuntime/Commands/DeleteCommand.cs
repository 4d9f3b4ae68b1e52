namespace Csshim.ShimRuntime.Commands;

/// <summary>`delete`: forward, then remove the staging once the runtime no longer has the container.</summary>
internal static class DeleteCommand
{
    private static bool KnowsOrFalse(Invocation invocation, string id)
    {
        try
        {
            return RuntimeQueries.Knows(invocation, id);
        }
        catch (ShimException)
        {
            return false;
        }
    }

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
            // A runtime that deleted the container but cannot answer state is taken at its word.
            bool gone = status == 0 ? !KnowsOrFalse(invocation, id) : !RuntimeQueries.Knows(invocation, id);
            if (gone) Staging.Stager.Unstage(stage, restoreConfig: true);
        }
        catch (ShimException e)
        {
            log.Error($"the staging {stage.Dir} of container \"{id}\" remains: {e.Message}");
            return status == 0 ? 1 : status;
        }
        return status;
    }
}
