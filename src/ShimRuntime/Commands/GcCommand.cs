using Csshim.ShimRuntime.Staging;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`csshim gc [--dry-run]`: remove stagings whose container the runtime no longer knows (left by a crash,
/// a killed csshim, or a client that never called delete). Stagings being made right now are skipped.</summary>
internal static class GcCommand
{
    public static int Run(Invocation invocation, ShimLog log)
    {
        var sub = invocation.Subcommand;
        if (sub.Positionals.Count > 0 || sub.UnknownFlags.Count > 0)
            throw new ShimUsageException("usage: csshim gc [--dry-run]");
        bool dryRun = sub.IsSet("dry-run");
        int failures = 0;
        foreach (var stage in ContainerStage.All(invocation.StateDir).ToList())
        {
            using var busy = StageLock.TryExclusive(stage);
            if (busy is null)
            {
                Console.Out.WriteLine($"busy {stage.Dir}");
                continue;
            }
            var record = StageRecord.Load(stage.RecordFile);
            try
            {
                if (record?.Creator?.IsAlive() == true
                    || (record is not null && RuntimeQueries.KnowsAt(record.Runtime, record.RuntimeRoot, stage.Id)))
                {
                    Console.Out.WriteLine($"keep {stage.Id} {stage.Dir}");
                    continue;
                }
                Console.Out.WriteLine($"{(dryRun ? "would remove" : "remove")} {stage.Id} {stage.Dir}");
                if (!dryRun) Stager.UnstageHeld(stage, restoreConfig: true);
            }
            catch (ShimException e)
            {
                log.Error($"gc of {stage.Dir}: {e.Message}");
                failures++;
            }
        }
        return failures == 0 ? 0 : 1;
    }
}
