using Csshim.OciSpec;
using Csshim.ShimRuntime.Native;
using Csshim.TarLayer;

namespace Csshim.ShimRuntime.Staging;

/// <summary>Puts a container's rootfs under a csshim overlay (tmpfs upper, restored archive, rewritten config.json)
/// and takes it away again. Order on stage: tmpfs, extract, overlay, config; any failure unwinds all of it.</summary>
internal sealed class Stager(Invocation invocation)
{
    public const string OriginalRootAnnotation = "dev.csshim.rootfs.original";
    public const string StagingAnnotation = "dev.csshim.staging";
    public const string RestoredArchiveAnnotation = "dev.csshim.tar.rootfs.upper";
    public const string DigestAnnotation = "dev.csshim.tar.rootfs.upper.sha256";

    public ContainerStage StageFor(string id) => ContainerStage.For(invocation.StateDir, invocation.Command.Root, id);

    public ContainerStage Stage(string id, string bundleDir)
    {
        var stage = StageFor(id);
        var spec = BundleSpec.Load(bundleDir);
        var lower = spec.Annotations.GetValueOrDefault(OriginalRootAnnotation) ?? spec.AbsoluteRootPath;
        if (!Directory.Exists(lower))
            throw new ShimException($"rootfs {lower} of bundle {spec.BundleDir} is not a directory");

        // Everything that can be refused is checked before the first side effect.
        var annotation = RootfsTarAnnotation.Find(spec.Annotations);
        using var archive = annotation is null ? null : OpenArchive(annotation, spec);

        CreatePrivateDir(Path.GetDirectoryName(stage.Dir)!);
        using (StageLock.Exclusive(stage))
        {
            if (stage.Exists) ClearStaleHeld(stage);
            Directory.CreateDirectory(stage.Dir, PrivateDirMode);
            try
            {
                File.Copy(spec.ConfigPath, stage.OriginalConfig);
                var record = new StageRecord
                {
                    Id = id, RuntimeRoot = invocation.Command.Root, Runtime = invocation.Runtime.Path,
                    Bundle = spec.BundleDir, LowerDir = lower, Archive = archive?.RequestedPath,
                    ArchiveResolved = archive?.ResolvedPath, Created = DateTimeOffset.UtcNow.ToString("O"),
                    Creator = ProcessIdentity.Current(),
                };
                record.Save(stage.RecordFile);

                Directory.CreateDirectory(stage.Layer);
                Mounts.MountLayerTmpfs(stage.Layer, invocation.UpperSize);
                FaultPoint.Reach("tmpfs-mounted");
                Directory.CreateDirectory(stage.Work);
                Directory.CreateDirectory(stage.Upper);
                CopyRootAttributes(lower, stage.Upper);
                if (archive is not null) Restore(archive, stage);

                Directory.CreateDirectory(stage.Merged);
                Mounts.MountOverlay(lower, stage.Upper, stage.Work, stage.Merged);
                FaultPoint.Reach("overlay-mounted");

                spec.RootPath = stage.Merged;
                spec.SetAnnotation(OriginalRootAnnotation, lower);
                spec.SetAnnotation(StagingAnnotation, stage.Dir);
                if (archive is not null) spec.SetAnnotation(RestoredArchiveAnnotation, archive.RequestedPath);
                // A runsc that knows the annotation must neither apply it again nor refuse it.
                foreach (var key in RootfsTarAnnotation.FamilyKeys(spec.Annotations)) spec.RemoveAnnotation(key);
                spec.SaveAtomic();
                FaultPoint.Reach("config-rewritten");
                (record with { Phase = "staged" }).Save(stage.RecordFile);
            }
            catch
            {
                UnstageHeld(stage, restoreConfig: true);
                throw;
            }
        }
        return stage;
    }

    /// <summary>Unmount and remove a staging; with restoreConfig the bundle's config.json is put back as it was.
    /// Idempotent: a missing or half-made staging is fine.</summary>
    public static void Unstage(ContainerStage stage, bool restoreConfig)
    {
        if (!stage.Exists && !File.Exists(stage.LockFile)) return;
        using (StageLock.Exclusive(stage))
            UnstageHeld(stage, restoreConfig);
    }

    private ArchiveSource OpenArchive(RootfsTarAnnotation annotation, BundleSpec spec)
    {
        if (!invocation.AllowRootfsTarAnnotation)
            throw new ShimException("rootfs tar annotation is disabled, use --allow-rootfs-tar-annotation to enable it");
        if (spec.RootReadonly)
            throw new ShimException("rootfs tar upper path is set but rootfs is readonly");
        return ArchiveSource.Open(annotation.ArchivePath, spec.BundleDir, invocation.AllowedTarDirs,
            spec.Annotations.GetValueOrDefault(DigestAnnotation));
    }

    private void Restore(ArchiveSource archive, ContainerStage stage)
    {
        try
        {
            UpperArchive.Extract(FaultPoint.Wrap(archive.Stream, "extracting"), stage.Upper,
                new ExtractOptions { MaxEntries = invocation.MaxEntries });
            archive.VerifyDigest();
        }
        catch (Exception e) when (e is ArchiveRejectedException or IOException)
        {
            throw new ShimException($"rootfs upper archive {archive.RequestedPath}: {e.Message}", inner: e);
        }
    }

    /// <summary>A staging left by a crash or by a runtime that lost the container is cleared; one whose creating
    /// csshim still runs (a create being forwarded, a foreground run) or whose container the runtime has is an id
    /// clash.</summary>
    private void ClearStaleHeld(ContainerStage stage)
    {
        var record = StageRecord.Load(stage.RecordFile);
        if (record?.Creator?.IsAlive() == true || RuntimeQueries.Knows(invocation, stage.Id))
            throw new ShimException($"container \"{stage.Id}\" already exists", invocation.Runtime.FailureStatus);
        UnstageHeld(stage, restoreConfig: true, removeLock: false);
    }

    /// <summary>Unstage with the staging's lock already held by the caller; the lock file goes too unless the
    /// caller is about to stage again under the same lock.</summary>
    public static void UnstageHeld(ContainerStage stage, bool restoreConfig, bool removeLock = true)
    {
        if (stage.Exists) RemoveStaging(stage, restoreConfig);
        // Last, so that nobody locks a fresh file while this staging is still being taken apart.
        if (removeLock) StageLock.RemoveFile(stage);
    }

    private static void RemoveStaging(ContainerStage stage, bool restoreConfig)
    {
        var record = StageRecord.Load(stage.RecordFile);
        if (restoreConfig && record is not null) RestoreConfig(stage, record);
        // merged first: the overlay holds the tmpfs busy.
        if (MountTable.IsMountPoint(stage.Merged)) Mounts.Unmount(stage.Merged);
        foreach (var mount in MountTable.MountsUnder(stage.Dir)) Mounts.Unmount(mount);
        // Never recurse into a directory that still has a mount below it: merged shows the image rootfs.
        var left = MountTable.MountsUnder(stage.Dir);
        if (left.Count > 0)
            throw new ShimException($"staging {stage.Dir} still has mounts ({string.Join(", ", left)}); not removing it");
        Directory.Delete(stage.Dir, recursive: true);
    }

    /// <summary>Put the bundle's config.json back if it is still the one csshim wrote.</summary>
    private static void RestoreConfig(ContainerStage stage, StageRecord record)
    {
        if (!File.Exists(stage.OriginalConfig) || !Directory.Exists(record.Bundle)) return;
        BundleSpec current;
        try
        {
            current = BundleSpec.Load(record.Bundle);
        }
        catch (Exception)
        {
            return; // gone or replaced by the caller: not ours to put back
        }
        if (current.RootPath != stage.Merged) return;
        var original = File.ReadAllBytes(stage.OriginalConfig);
        AtomicFile.Write(current.ConfigPath, File.GetUnixFileMode(current.ConfigPath), s => s.Write(original));
    }

    private const UnixFileMode PrivateDirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>The state dir and the per-root dir, root-only: stagings hold container data.</summary>
    private static void CreatePrivateDir(string rootKeyDir)
    {
        foreach (var d in new[] { Path.GetDirectoryName(rootKeyDir)!, rootKeyDir })
            if (!Directory.Exists(d))
                Directory.CreateDirectory(d, PrivateDirMode);
    }

    /// <summary>overlayfs shows the upper root's owner and mode as the container's /: it must be the image's.</summary>
    private static void CopyRootAttributes(string lower, string upper)
    {
        if (Libc.stat(lower, out var st) != 0)
            throw new ShimException($"cannot stat rootfs {lower}: {Libc.Error(Libc.LastErrno)}");
        if (Libc.chown(upper, (int)st.Uid, (int)st.Gid) != 0)
            throw new ShimException($"cannot chown {upper}: {Libc.Error(Libc.LastErrno)}");
        File.SetUnixFileMode(upper, (UnixFileMode)(st.Mode & 0xFFF));
    }
}
