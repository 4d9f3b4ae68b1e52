using System.Text;
using Mono.Unix.Native;
using Csshim.TarLayer;
using Csshim.TarLayer.Posix;

namespace Csshim.ShimRuntime.Staging;

/// <summary>
/// csshim's layer cache: an archive extracted once, into an entry that every later container of the same archive
/// mounts read-only as an overlay lower instead of copying it again. Layout:
/// <code>
/// &lt;cache&gt;/&lt;key&gt;/layer/        the extracted archive: a valid overlay layer (whiteouts, opaque dirs)
/// &lt;cache&gt;/&lt;key&gt;/entry.json    what it was built from, its counts, when, in which boot
/// &lt;cache&gt;/&lt;key&gt;/refs/        one file per container layer that stacks it
/// &lt;cache&gt;/&lt;key&gt;.lock         flock: builds and gc take it alone
/// </code>
/// An entry appears whole or not at all: it is built in a `.build-*` directory and renamed into place after the
/// archive passed every check of a restore (names, types, budgets, the digest pin); nothing ever writes into it after
/// that. Its key comes from the opened archive's identity (device, inode, size, ctime, mtime) and the pinned digest,
/// so a changed or replaced archive never meets a stale entry and no start hashes the whole archive again.
/// </summary>
internal sealed class LayerCache(string dir)
{
    public string Dir => dir;

    /// <summary>The cache key of an opened archive (16 hex digits), from its file identity and its pin.</summary>
    public static string KeyOf(ArchiveSource archive) =>
        Fnv1a.Hash64(Encoding.UTF8.GetBytes(Source(archive))).ToString("x16");

    /// <summary>What an entry was built from, in full: a key that collided would not match this.</summary>
    private static string Source(ArchiveSource archive) =>
        archive.PinnedSha256 is { } pin ? $"{archive.FileIdentity} sha256={pin}" : archive.FileIdentity;

    public string EntryDir(string key) => Path.Combine(dir, key);
    public string LayerDir(string key) => Path.Combine(EntryDir(key), "layer");
    private string LockFile(string key) => EntryDir(key) + ".lock";

    /// <summary>
    /// The entry of this archive, built now if there is none (extracting the archive under <paramref name="budget"/>
    /// and its pin), with <paramref name="holder"/> recorded as a reference. Concurrent callers for one archive wait
    /// for one build. A reused entry must fit this call's budget too.
    /// </summary>
    public CachedLayer Obtain(ArchiveSource archive, ExtractOptions budget, LayerReference holder)
    {
        PrepareDir();
        var key = KeyOf(archive);
        using var held = FileLock.Exclusive(LockFile(key));
        var entry = Trusted(key);
        if (entry is not null && entry.Source != Source(archive))
            throw new ShimException($"layer cache entry {EntryDir(key)} was built from another archive ({entry.Source}); remove it");
        if (entry is null)
        {
            Discard(key);
            entry = Build(key, archive, budget);
        }
        else
        {
            entry.CheckBudget(archive.RequestedPath, budget);
            MakeDurableOnceSettled(key, entry);
        }
        holder.SaveIn(Path.Combine(EntryDir(key), "refs"));
        return new CachedLayer(key, LayerDir(key), entry.HasRoot);
    }

    /// <summary>An existing trusted entry by key (a restart of an in-place container), with a reference added; null
    /// when it is gone or cannot be trusted any more.</summary>
    public CachedLayer? Reuse(string key, LayerReference holder)
    {
        if (!Directory.Exists(dir)) return null;
        using var held = FileLock.Exclusive(LockFile(key));
        if (Trusted(key) is not { } entry) return null;
        MakeDurableOnceSettled(key, entry);
        holder.SaveIn(Path.Combine(EntryDir(key), "refs"));
        return new CachedLayer(key, LayerDir(key), entry.HasRoot);
    }

    /// <summary>Drop a reference (a tmpfs staging going away; its record names the layer dir); gc would find it dead anyway.</summary>
    public static void Release(string layerDir, LayerReference holder) =>
        holder.RemoveFrom(Path.Combine(Path.GetDirectoryName(layerDir)!, "refs"));

    /// <summary>The entry's metadata when it can be used: built in this boot, or made durable (synced to disk) before
    /// the host went down. A non-durable entry of an earlier boot may have lost data in a crash: it is rebuilt.</summary>
    private CacheEntryInfo? Trusted(string key)
    {
        var info = CacheEntryInfo.Load(Path.Combine(EntryDir(key), CacheEntryInfo.FileName));
        if (info is null || info.Key != key || !Directory.Exists(LayerDir(key))) return null;
        return info.Durable || info.Boot == CurrentBoot ? info : null;
    }

    private CacheEntryInfo Build(string key, ArchiveSource archive, ExtractOptions budget)
    {
        var build = Path.Combine(dir, $".build-{key}-{Environment.ProcessId}");
        StagingRemoval.Remove(build);
        Directory.CreateDirectory(build, PrivateDir);
        try
        {
            var layer = Path.Combine(build, "layer");
            Directory.CreateDirectory(layer);
            FaultPoint.Reach("layer-build-started");
            ExtractResult counted;
            try
            {
                counted = UpperArchive.Extract(FaultPoint.Wrap(archive.Stream, "extracting"), layer, budget);
            }
            catch (LayerFullException full)
            {
                throw new LayerFullException($"{full.Message}; the layer cache {dir} is full", full.Operation, full);
            }
            archive.VerifyDigest();
            var info = new CacheEntryInfo(key, Source(archive), archive.RequestedPath, counted.Entries, counted.Bytes,
                counted.HasRoot, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), CurrentBoot, Durable: false);
            info.Save(Path.Combine(build, CacheEntryInfo.FileName));
            FaultPoint.Reach("layer-built");
            Directory.Move(build, EntryDir(key));
            return info;
        }
        catch
        {
            TryRemove(build);
            throw;
        }
    }

    /// <summary>An entry is built without waiting for the disk (a first start must not pay for it); once the kernel
    /// has had time to write it back, the next use syncs the cache's filesystem (by then nearly free) and marks it
    /// durable, trusted after a reboot.</summary>
    private void MakeDurableOnceSettled(string key, CacheEntryInfo entry)
    {
        if (entry.Durable || DateTimeOffset.UtcNow.ToUnixTimeSeconds() - entry.Created < SettleSeconds) return;
        MakeDurable(key, entry);
    }

    public void MakeDurable(string key, CacheEntryInfo entry)
    {
        int fd = Linux.Open(EntryDir(key), Linux.O_RDONLY | Linux.O_DIRECTORY, 0);
        if (fd < 0) return;
        try
        {
            if (Linux.syncfs(fd) != 0) return;
        }
        finally
        {
            Syscall.close(fd);
        }
        (entry with { Durable = true }).Save(Path.Combine(EntryDir(key), CacheEntryInfo.FileName));
    }

    /// <summary>Dirty page cache is written back after 30 s (vm.dirty_expire_centisecs); twice that is settled.</summary>
    private const long SettleSeconds = 60;

    /// <summary>Remove an entry that is not to be used (untrusted, or unreferenced for gc); the caller holds its lock.
    /// Renamed away first, so that it is gone at once even if the removal is interrupted.</summary>
    private void Discard(string key)
    {
        if (!Directory.Exists(EntryDir(key))) return;
        var trash = Path.Combine(dir, $".trash-{key}-{Environment.ProcessId}");
        TryRemove(trash);
        Directory.Move(EntryDir(key), trash);
        StagingRemoval.Remove(trash);
    }

    /// <summary>The cache dir, root-only: an entry becomes the lower layer of containers, so nobody else may plant one.</summary>
    private void PrepareDir()
    {
        if (!Directory.Exists(dir)) Directory.CreateDirectory(dir, PrivateDir);
        if (Syscall.lstat(dir, out var st) != 0)
            throw new ShimException($"cannot stat the layer cache {dir}: {Linux.Error(Linux.LastErrno)}");
        if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFDIR || st.st_uid != 0
            || (st.st_mode & (FilePermissions.S_IWGRP | FilePermissions.S_IWOTH)) != 0)
            throw new ShimException($"the layer cache {dir} must be a directory owned by root and writable by root only");
    }

    private const UnixFileMode PrivateDir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private static void TryRemove(string path)
    {
        try
        {
            StagingRemoval.Remove(path);
        }
        catch (Exception e) when (e is ShimException or IOException or UnauthorizedAccessException)
        {
            // gc removes what is left (a `.build-*` or `.trash-*` dir is never trusted)
        }
    }

    /// <summary>This boot of the host, as the kernel names it.</summary>
    private static string CurrentBoot => currentBoot ??= File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
    private static string? currentBoot;

    /// <summary>`csshim gc`'s part: entries no container layer references any more, and what crashed builds and
    /// removals left. Entries being built or used right now (their lock held) are skipped.</summary>
    public int Collect(bool dryRun, Action<string> report, Action<string> error)
    {
        if (!Directory.Exists(dir)) return 0;
        int failures = 0;
        foreach (var path in Directory.EnumerateDirectories(dir).Order(StringComparer.Ordinal).ToList())
        {
            var name = Path.GetFileName(path);
            var key = name.StartsWith('.') ? name.Split('-').ElementAtOrDefault(1) : name;
            if (key is null) continue;
            using var held = FileLock.TryExclusive(LockFile(key));
            if (held is null)
            {
                report($"busy layer {path}");
                continue;
            }
            try
            {
                if (!name.StartsWith('.') && Trusted(key) is { } entry && LiveReferences(key).Count > 0)
                {
                    report($"keep layer {key} {path}");
                    if (!dryRun) MakeDurable(key, entry);
                    continue;
                }
                report($"{(dryRun ? "would remove" : "remove")} layer {key} {path}");
                if (dryRun) continue;
                if (name.StartsWith('.')) StagingRemoval.Remove(path);
                else Discard(key);
                if (!Directory.Exists(EntryDir(key))) File.Delete(LockFile(key));
            }
            catch (Exception e) when (e is ShimException or IOException or UnauthorizedAccessException)
            {
                error($"gc of layer {path}: {e.Message}");
                failures++;
            }
        }
        return failures;
    }

    private List<LayerReference> LiveReferences(string key) =>
        LayerReference.LoadAll(Path.Combine(EntryDir(key), "refs")).Where(r => r.IsLive(LayerDir(key), key)).ToList();
}

/// <summary>A trusted cache entry in use: its key, its layer dir (an overlay lower), and whether the archive
/// carried attributes for the root ("./"), which the container's root must then take.</summary>
internal sealed record CachedLayer(string Key, string LayerDir, bool HasRoot);

/// <summary>entry.json of a cache entry.</summary>
internal sealed record CacheEntryInfo(string Key, string Source, string Archive, long Entries, long Bytes, bool HasRoot,
    long Created, string Boot, bool Durable)
{
    public const string FileName = "entry.json";

    /// <summary>A reused entry was built under the budget of its first create; a later create may have a smaller one.</summary>
    public void CheckBudget(string archive, ExtractOptions budget)
    {
        if (Entries > budget.MaxEntries)
            throw new ShimException($"rootfs upper archive {archive}: its {Entries} entries exceed the entry budget of {budget.MaxEntries} (--shim-max-entries, config \"maxEntries\")");
        if (Bytes > budget.MaxBytes)
            throw new ShimException($"rootfs upper archive {archive}: its {Bytes} bytes of file data exceed the upper size cap of {budget.MaxBytes} bytes (--shim-upper-size, config \"upperSize\")");
    }

    public void Save(string path)
    {
        var o = new System.Text.Json.Nodes.JsonObject
        {
            ["key"] = Key, ["source"] = Source, ["archive"] = Archive, ["entries"] = Entries, ["bytes"] = Bytes,
            ["hasRoot"] = HasRoot, ["created"] = Created, ["boot"] = Boot, ["durable"] = Durable,
        };
        AtomicFile.WriteText(path, UnixFileMode.UserRead | UnixFileMode.UserWrite, o.ToJsonString(OciSpec.BundleSpec.WriteOptions));
    }

    public static CacheEntryInfo? Load(string path)
    {
        try
        {
            if (System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path)) is not System.Text.Json.Nodes.JsonObject o) return null;
            return new CacheEntryInfo((string)o["key"]!, (string)o["source"]!, (string)o["archive"]!, (long)o["entries"]!,
                (long)o["bytes"]!, (bool)o["hasRoot"]!, (long)o["created"]!, (string)o["boot"]!, (bool)o["durable"]!);
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or UnauthorizedAccessException
                                      or InvalidOperationException or FormatException or NullReferenceException)
        {
            return null;
        }
    }
}
