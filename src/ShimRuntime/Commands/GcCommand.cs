using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Staging;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`csshim gc [--dry-run]`: remove stagings whose container the runtime no longer knows (left by a crash,
/// a killed csshim, or a client that never called delete), then the layer cache's entries that no container layer
/// references any more. Stagings and entries in use right now are skipped.</summary>
internal static class GcCommand
{
    public static int Run(CommandCall call)
    {
        var invocation = call.Invocation;
        var sub = invocation.Subcommand;
        if (sub.UnknownFlags.Count > 0) throw CommandTable.Named("gc").UsageError($"unknown flag -{sub.UnknownFlags[0]}");
        if (sub.Positionals.Count > 0) throw CommandTable.Named("gc").UsageError($"unexpected argument \"{sub.Positionals[0]}\"");
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
                if (record is { HasLiveCreatorOtherThanMe: true }
                    || (record is not null && RuntimeQueries.KnowsAt(record.Runtime, record.RuntimeRoot, stage.Id)))
                {
                    Console.Out.WriteLine($"keep {stage.Id} {stage.Dir}");
                    continue;
                }
                Console.Out.WriteLine($"{(dryRun ? "would remove" : "remove")} {stage.Id} {stage.Dir}");
                if (!dryRun) Stager.UnstageHeld(stage, record);
            }
            catch (ShimException e)
            {
                call.Log.Error($"gc of {stage.Dir}: {e.Message}");
                failures++;
            }
        }
        failures += new LayerCache(invocation.CacheDir).Collect(dryRun, Console.Out.WriteLine, call.Log.Error);
        return failures == 0 ? 0 : 1;
    }
}
