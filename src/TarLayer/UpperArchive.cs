namespace Csshim.TarLayer;

public enum ArchiveCompression { None, Gzip, Zstd }

/// <summary>Budget for one restore: a bomb fails fast instead of filling memory or disk.</summary>
public sealed record ExtractOptions
{
    /// <summary>Bound on the decompressed tar stream (headers, data, padding); each file's declared size is checked against it first.</summary>
    public long MaxBytes { get; init; } = long.MaxValue;
    /// <summary>Bound on entries read plus the parent directories they imply that no earlier entry made.</summary>
    public long MaxEntries { get; init; } = long.MaxValue;
    /// <summary>Allow character/block devices other than 0/0 whiteouts.</summary>
    public bool AllowDevices { get; init; }
}

/// <summary>What a restore counted: entries against MaxEntries (implied parent directories included), file data bytes;
/// and whether the archive carried the root ("./"), whose attributes then replace the destination root's.</summary>
public sealed record ExtractResult(long Entries, long Bytes, bool HasRoot);

/// <summary>An archive entry or the archive itself was refused; the message names the entry and why.</summary>
public class ArchiveRejectedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The destination ran out of space (ENOSPC/EDQUOT) while restoring: the upper layer is full.</summary>
/// <remarks><see cref="Operation"/> is the call that failed ("write", "create", "mkdir", ...): on tmpfs a write
/// runs out of bytes, while making a node runs out of inodes.</remarks>
public sealed class LayerFullException(string message, string operation, Exception? inner = null) : ArchiveRejectedException(message, inner)
{
    public string Operation { get; } = operation;
}

/// <summary>
/// A snapshot could not be made complete, so what was written so far is not an archive to keep. EntryName is the
/// path as the archive would name it ("./a/b", "./dir/"); the message is "cannot snapshot '&lt;name&gt;': &lt;reason&gt;".
/// </summary>
public sealed class SnapshotFailedException(string entryName, string reason)
    : IOException($"cannot snapshot '{Shorten(entryName)}': {reason}")
{
    public string EntryName { get; } = entryName;

    // A name near PATH_MAX would bury the reason; the start of it says where.
    static string Shorten(string name) => name.Length <= 200 ? name : name[..200] + "…";
}

/// <summary>The rootfs-upper archive (docs/FORMAT.md): restore into an overlay upperdir or in place over a rootfs, snapshot an upperdir.</summary>
public static class UpperArchive
{
    /// <summary>
    /// Xattrs csshim keeps for itself (e.g. a marker on the upper root of a rootfs it restored in place): never written
    /// into a snapshot, never restored from an archive, never removed by an in-place restore.
    /// </summary>
    public const string PrivateXattrPrefix = "trusted.csshim.";

    /// <summary>Extract into an existing empty directory; compression detected by magic. On failure nothing remains in destinationDir.</summary>
    public static ExtractResult Extract(Stream archive, string destinationDir, ExtractOptions options)
    {
        ArgumentNullException.ThrowIfNull(archive);
        options ??= new ExtractOptions();
        using var extractor = new Extractor(destinationDir);
        if (!extractor.IsEmpty()) throw new ArgumentException($"destination '{destinationDir}' is not empty", nameof(destinationDir));
        try
        {
            return Restore(archive, options, extractor);
        }
        catch
        {
            extractor.RemoveAllChildren();
            throw;
        }
    }

    /// <summary>
    /// Full parse of the archive with every check Extract makes (names, types, devices, hard-link targets, budgets,
    /// corrupt/truncated input), writing nothing: a refused archive throws what Extract would throw. Run before an
    /// in-place restore, so that a refused archive changes nothing.
    /// </summary>
    public static ExtractResult Validate(Stream archive, ExtractOptions options)
    {
        ArgumentNullException.ThrowIfNull(archive);
        return Restore(archive, options ?? new ExtractOptions(), target: null);
    }

    /// <summary>
    /// Apply an upper-layer archive over the live tree at rootfsDir (normally an overlay's merged directory), in place:
    /// afterwards rootfsDir looks as it would with the archive extracted into an empty upper directory mounted over
    /// its previous content. Refuses what Extract refuses, but cannot roll back what it already changed: run Validate
    /// first; an interrupted apply is completed by applying the same archive again.
    /// </summary>
    public static ExtractResult ApplyInPlace(Stream archive, string rootfsDir, ExtractOptions options)
    {
        ArgumentNullException.ThrowIfNull(archive);
        using var applier = new InPlaceApplier(rootfsDir);
        return Restore(archive, options ?? new ExtractOptions(), applier);
    }

    static ExtractResult Restore(Stream archive, ExtractOptions options, TreeRestorer? target)
    {
        var input = Compression.OpenForRead(archive);
        try
        {
            using var reader = new PaxTarReader(input, options.MaxBytes);
            var rules = new RestoreRules(options);
            while (reader.Next() is { } e)
            {
                var step = rules.Admit(e);
                target?.Apply(step, reader);
            }
            target?.Finish(rules);
            return new ExtractResult(rules.Entries, rules.Bytes, rules.RootEntry is not null);
        }
        finally
        {
            // A plain archive in a file is read as it is: the caller's stream stays open.
            if (!ReferenceEquals(input, archive)) input.Dispose();
        }
    }

    /// <summary>
    /// Serialize an overlay upper directory in runsc's layout. Complete or it throws SnapshotFailedException: nothing
    /// the walk cannot read is left out, except what vanished since its directory was read (a live container).
    /// </summary>
    public static void Write(string upperDir, Stream output, ArchiveCompression compression = ArchiveCompression.None) =>
        Write([upperDir], output, compression);

    /// <summary>
    /// Serialize a stack of overlay upper layers as one archive, top first: layerDirs[0] is an upper directory (may be
    /// live, as in the single-directory form), layerDirs[1..] are read-only layers (extracted archives) stacked below it
    /// and above an image that is not given. The archive, extracted into an empty upper over the image alone, shows what
    /// `overlay lowerdir=layerDirs[1]:...:image,upperdir=layerDirs[0]` shows: per path the topmost layer wins, directories
    /// merge down to the first opaque one, a non-directory or a whiteout, and a directory whose merge stopped there is
    /// archived opaque. One layer is exactly <see cref="Write(string, Stream, ArchiveCompression)"/>. Complete or it
    /// throws SnapshotFailedException naming the path; lower layers must not change, so anything vanishing there fails.
    /// </summary>
    public static void Write(IReadOnlyList<string> layerDirs, Stream output, ArchiveCompression compression = ArchiveCompression.None)
    {
        ArgumentNullException.ThrowIfNull(layerDirs);
        ArgumentNullException.ThrowIfNull(output);
        if (layerDirs.Count == 0) throw new ArgumentException("no layer: the upper directory comes first", nameof(layerDirs));
        foreach (var dir in layerDirs) ArgumentNullException.ThrowIfNull(dir, nameof(layerDirs));
        var compressed = Compression.OpenForWrite(output, compression);
        try
        {
            using var writer = new PaxTarWriter(compressed);
            new Snapshotter(writer).Run(layerDirs);
            writer.Finish();
        }
        finally
        {
            if (!ReferenceEquals(compressed, output)) compressed.Dispose();
        }
        output.Flush();
    }
}
