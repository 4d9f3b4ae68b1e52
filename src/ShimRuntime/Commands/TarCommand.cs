using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Settings;
using Csshim.ShimRuntime.Staging;
using Csshim.TarLayer;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`csshim tar rootfs-upper [--file F] [--compress gzip|zstd] [--pause] ID`, runsc's contract: the
/// container's rootfs changes as an archive, to F (mode 0644, replaced whole) or to stdout. The changes are the upper
/// its staging recorded: csshim's tmpfs upper, or the engine's upperdir for a rootfs restored in place.</summary>
internal static class TarCommand
{
    public static int Run(CommandCall call)
    {
        var invocation = call.Invocation;
        var sub = invocation.Subcommand;
        var command = CommandTable.Named("tar");
        if (sub.UnknownFlags.Count > 0) throw command.UsageError($"unknown flag -{sub.UnknownFlags[0]}");
        if (sub.Verb != "rootfs-upper") throw command.UsageError(sub.Verb is null ? "no verb" : $"unknown verb \"{sub.Verb}\"");
        if (sub.Positionals.Count != 2) throw command.UsageError("give exactly one container id");
        var id = sub.ContainerId!;
        var compression = ParseCompression(sub.Value("compress"));
        var file = sub.Value("file");

        var stage = new Stager(invocation).StageFor(id);
        if (!stage.Exists)
        {
            var known = RuntimeQueries.Knows(invocation, id);
            throw new ShimException(known
                ? $"container \"{id}\" was not created through csshim: it has no staged rootfs to snapshot"
                : $"container \"{id}\" does not exist");
        }

        using var shared = StageLock.Shared(stage);
        var layers = LayersOf(stage);
        using var pause = sub.IsSet("pause") ? ContainerPause.Begin(invocation, id) : null;
        if (file is null)
        {
            using var stdout = Console.OpenStandardOutput();
            UpperArchive.Write(layers, stdout, compression);
        }
        else
        {
            WriteAtomically(layers, Path.GetFullPath(file), compression);
        }
        return 0;
    }

    /// <summary>The upper the staging recorded, over the cached layer it stacks if any (a snapshot is the container's
    /// whole change set: the restored archive and its own writes, merged); for an engine's layer only while that same
    /// overlay is still mounted at the rootfs (an unmounted layer's dir may be gone or reused).</summary>
    private static IReadOnlyList<string> LayersOf(ContainerStage stage)
    {
        var record = StageRecord.Load(stage.RecordFile)
            ?? throw new ShimException($"container \"{stage.Id}\" has no staging record (its create was interrupted); delete it or run csshim gc");
        if (record.Mode == StagingMode.InPlace && !new EngineLayer(record.Rootfs, record.Upper).StillMounted)
            throw new ShimException($"the rootfs {record.Rootfs} of container \"{stage.Id}\" is no longer the overlay with upper {record.Upper}");
        return record.Layer is { } layer ? [record.Upper, layer] : [record.Upper];
    }

    private static ArchiveCompression ParseCompression(string? value) => value switch
    {
        null or "none" => ArchiveCompression.None,
        "gzip" => ArchiveCompression.Gzip,
        "zstd" => ArchiveCompression.Zstd,
        _ => throw new ShimUsageException($"--compress \"{value}\": use gzip, zstd or none"),
    };

    private static void WriteAtomically(IReadOnlyList<string> layers, string file, ArchiveCompression compression)
    {
        try
        {
            SnapshotFile.Write(file, output => UpperArchive.Write(layers, FaultPoint.Wrap(output, "snapshotting"), compression));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArchiveRejectedException)
        {
            throw new ShimException($"cannot write snapshot {file}: {e.Message}", inner: e);
        }
    }
}

/// <summary>Freezes a container for the duration of a snapshot, and thaws it whatever happens.</summary>
internal sealed class ContainerPause : IDisposable
{
    private readonly Invocation invocation;
    private readonly string id;

    private ContainerPause(Invocation invocation, string id)
    {
        this.invocation = invocation;
        this.id = id;
    }

    public static ContainerPause Begin(Invocation invocation, string id)
    {
        var (status, _, stderr) = RuntimeQueries.Ask(invocation, "pause", id);
        if (status != 0) throw new ShimException($"cannot pause container \"{id}\" for the snapshot: {stderr.Trim()}");
        return new ContainerPause(invocation, id);
    }

    public void Dispose()
    {
        var (status, _, stderr) = RuntimeQueries.Ask(invocation, "resume", id);
        if (status != 0) throw new ShimException($"snapshot taken, but container \"{id}\" could not be resumed: {stderr.Trim()}");
    }
}
