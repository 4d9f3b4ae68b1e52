using Csshim.OciSpec;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Settings;

namespace Csshim.ShimRuntime.Staging;

/// <summary>
/// Stages a container's rootfs for create/run and takes the staging away again. Order on stage: every refusal
/// (csshim's own annotations, the archive policy) before the first side effect; then, under the container's lock,
/// the record, the layer (<see cref="TmpfsLayer"/> or <see cref="InPlaceLayer"/>), the rewritten config.json. Any
/// failure unwinds all of it.
/// </summary>
internal sealed class Stager(Invocation invocation)
{
    public ContainerStage StageFor(string id) => ContainerStage.For(invocation.StateDir, invocation.RuntimeRoot, id);

    public ContainerStage Stage(string id, string bundleDir, string command, bool foreground, ShimLog log)
    {
        var stage = StageFor(id);
        var spec = BundleSpec.Load(bundleDir);
        OwnAnnotations.RefuseUnknown(spec);
        var own = OwnAnnotations.In(spec);
        // A caller's own copy of csshim's keys is refused here, before anything is made; csshim's own rewrite is
        // recognised below, under the lock, against the staging it belongs to.
        if (own.Count > 0 && !stage.Exists) throw OwnAnnotations.Refusal(own[0]);
        var archive = own.Count == 0 ? Preflight(spec) : null;

        CreatePrivateDir(Path.GetDirectoryName(stage.Dir)!);
        var held = StageLock.Exclusive(stage);
        var made = false;
        try
        {
            if (stage.Exists)
            {
                var stale = StageRecord.Load(stage.RecordFile);
                if (own.Count > 0 && !OwnAnnotations.WrittenFor(spec, stage, stale)) throw OwnAnnotations.Refusal(own[0]);
                new StaleStaging(invocation).Clear(stage, stale);
                if (own.Count > 0)
                {
                    // csshim's rewrite is back to the caller's original now: stage from that.
                    spec = BundleSpec.Load(bundleDir);
                    if (OwnAnnotations.In(spec) is [var key, ..]) throw OwnAnnotations.Refusal(key);
                    archive = Preflight(spec);
                }
            }
            var prepared = archive!;
            var record = NewRecord(stage, spec, prepared, command) with { Foreground = foreground };
            // The spec csshim will write is known before the layer is made: its fingerprint goes into the one record
            // write, ahead of config.json itself, so a crash anywhere leaves a record that recognises it.
            var rewrite = EditSpec(spec, stage, record) ? BundleConfig.Render(spec) : default;
            record = record with { WrittenConfig = rewrite.Fingerprint };
            Directory.CreateDirectory(stage.Dir, PrivateDirMode);
            made = true;
            record.Save(stage.RecordFile);
            var layer = prepared.Engine is null
                ? TmpfsLayer.Make(stage, record.Rootfs, prepared.Source, invocation)
                : InPlaceLayer.Make(stage, prepared.Engine, prepared.Source, invocation, log);
            // In tmpfs mode the record already named the layer; in place, whether one is stacked is known only now.
            if (layer != record.Layer) (record with { Layer = layer }).Save(stage.RecordFile);
            if (rewrite.Bytes is not null)
            {
                BundleConfig.Write(spec, stage, rewrite.Bytes);
                FaultPoint.Reach("config-rewritten");
            }
            return stage;
        }
        catch (Exception failure)
        {
            throw Unwind(stage, made, failure);
        }
        finally
        {
            archive?.Source?.Dispose();
            held.Dispose();
        }
    }

    /// <summary>What a staging needs from the spec, checked before any side effect: the rootfs, its engine layer
    /// (when the mode allows one), and the archive opened under the policy.</summary>
    private sealed record Prepared(string Rootfs, EngineLayer? Engine, ArchiveSource? Source);

    private Prepared Preflight(BundleSpec spec)
    {
        var rootfs = CanonicalPath.Of(spec.AbsoluteRootPath);
        if (!Directory.Exists(rootfs))
            throw new ShimException($"rootfs {rootfs} of bundle {spec.BundleDir} is not a directory");
        var engine = invocation.UpperMode == UpperMode.Auto ? EngineLayer.At(rootfs) : null;
        try
        {
            return new Prepared(rootfs, engine, ArchivePolicy.Open(spec, invocation));
        }
        catch (ArchiveMissingException) when (engine is not null && InPlaceLayer.StackedKey(engine.UpperDir) is not null)
        {
            // A restart of a layer that stacks a cached layer needs that layer, not the archive it was built from.
            return new Prepared(rootfs, engine, null);
        }
    }

    private StageRecord NewRecord(ContainerStage stage, BundleSpec spec, Prepared prepared, string command) => new()
    {
        Id = stage.Id, RuntimeRoot = invocation.Command.Root, Runtime = invocation.Runtime.Path, Command = command,
        Mode = prepared.Engine is null ? StagingMode.Tmpfs : StagingMode.InPlace, Bundle = spec.BundleDir,
        Rootfs = prepared.Rootfs, Upper = prepared.Engine?.UpperDir ?? stage.Upper, Archive = prepared.Source?.RequestedPath,
        Layer = prepared is { Engine: null, Source: { } source } && invocation.RestoreMode == RestoreMode.Layer
            ? new LayerCache(invocation.CacheDir).LayerDir(LayerCache.KeyOf(source)) : null,
        Created = DateTimeOffset.UtcNow.ToString("O"), Creator = ProcessIdentity.Current(),
    };

    /// <summary>Take apart what this call made (never a staging it found in use) and free the lock file; a failure
    /// of the cleanup itself is reported with the original one, since gc or the next delete must finish it.</summary>
    private static Exception Unwind(ContainerStage stage, bool made, Exception failure)
    {
        try
        {
            if (made) Remove(stage, StageRecord.Load(stage.RecordFile));
            StageLock.RemoveFile(stage);
            return failure;
        }
        catch (Exception cleanup) when (failure is ShimException or IOException)
        {
            return new ShimException($"{failure.Message} (and its staging {stage.Dir} remains: {cleanup.Message})",
                (failure as ShimException)?.ExitCode ?? 1, failure);
        }
    }

    /// <summary>In tmpfs mode root.path moves to the overlay; in either mode the archive keys go (the archive is in
    /// the rootfs now, and a runsc that knows them must neither apply them again nor refuse the spec). False when the
    /// spec needs neither change: config.json is then left alone.</summary>
    private static bool EditSpec(BundleSpec spec, ContainerStage stage, StageRecord record)
    {
        var archiveKeys = RootfsTarAnnotation.FamilyKeys(spec.Annotations);
        if (record.Mode == StagingMode.InPlace && archiveKeys.Count == 0) return false;
        if (record.Mode == StagingMode.Tmpfs)
        {
            spec.RootPath = stage.Merged;
            OwnAnnotations.Write(spec, record, stage);
        }
        foreach (var key in archiveKeys) spec.RemoveAnnotation(key);
        return true;
    }

    /// <summary>Unstage under the container's lock; idempotent (a missing or half-made staging is fine). With
    /// <paramref name="unlessInUse"/> a staging whose creator still runs (a create being forwarded, a foreground run,
    /// or a create that began after the caller looked) is left to that creator.</summary>
    public static void Unstage(ContainerStage stage, bool unlessInUse = false)
    {
        if (!stage.Exists && !File.Exists(stage.LockFile)) return;
        using (StageLock.Exclusive(stage))
        {
            var record = StageRecord.Load(stage.RecordFile);
            if (unlessInUse && record is { HasLiveCreatorOtherThanMe: true }) return;
            UnstageHeld(stage, record);
        }
    }

    /// <summary>Unstage with the lock already held; the lock file goes last, so that nobody locks a fresh file while
    /// this staging is still being taken apart.</summary>
    public static void UnstageHeld(ContainerStage stage, StageRecord? record)
    {
        if (stage.Exists) Remove(stage, record);
        StageLock.RemoveFile(stage);
    }

    /// <summary>config.json back, mounts off, files gone; never recursing into a mount (merged shows the image). A
    /// tmpfs staging's reference to its cached layer goes last (an engine's layer keeps its own: the layer outlives
    /// the container's staging).</summary>
    public static void Remove(ContainerStage stage, StageRecord? record)
    {
        if (record is not null) BundleConfig.PutBack(stage, record);
        TmpfsLayer.Unmount(stage);
        StagingRemoval.Remove(stage.Dir);
        if (record is { Mode: StagingMode.Tmpfs, Layer: { } layer }) LayerCache.Release(layer, LayerReference.ForStaging(stage));
    }

    private const UnixFileMode PrivateDirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>The state dir and the per-root dir, root-only: stagings hold container data.</summary>
    private static void CreatePrivateDir(string rootKeyDir)
    {
        foreach (var d in new[] { Path.GetDirectoryName(rootKeyDir)!, rootKeyDir })
            if (!Directory.Exists(d))
                Directory.CreateDirectory(d, PrivateDirMode);
    }
}

/// <summary>A staging found where a new one is to be made: left by a crash, by a runtime that lost the container, or
/// by a client that never deleted. Cleared, unless its creator still runs or the runtime still has the container:
/// then the id is taken.</summary>
internal sealed class StaleStaging(Invocation invocation)
{
    public void Clear(ContainerStage stage, StageRecord? record)
    {
        if (record is { HasLiveCreatorOtherThanMe: true } || RuntimeQueries.Knows(invocation, stage.Id))
            throw new ShimException($"container \"{stage.Id}\" already exists", invocation.Runtime.FailureStatus);
        Stager.Remove(stage, record);
    }
}
