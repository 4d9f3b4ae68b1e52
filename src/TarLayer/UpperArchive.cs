namespace Csshim.TarLayer;

public enum ArchiveCompression { None, Gzip, Zstd }

/// <summary>Budget for one restore: a bomb fails fast instead of filling memory or disk.</summary>
public sealed record ExtractOptions
{
    public long MaxBytes { get; init; } = long.MaxValue;
    public long MaxEntries { get; init; } = long.MaxValue;
    /// <summary>Allow character/block devices other than 0/0 whiteouts.</summary>
    public bool AllowDevices { get; init; }
}

public sealed record ExtractResult(long Entries, long Bytes);

/// <summary>An archive entry or the archive itself was refused; the message names the entry and why.</summary>
public class ArchiveRejectedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The destination ran out of space (ENOSPC/EDQUOT) while restoring: the upper layer is full.</summary>
public sealed class LayerFullException(string message, Exception? inner = null) : ArchiveRejectedException(message, inner);

/// <summary>The rootfs-upper archive (FORMAT.md): restore into an overlay upperdir, snapshot an upperdir.</summary>
public static class UpperArchive
{
    public const string PrivateXattrPrefix = "trusted.csshim.";
    public static ExtractResult Validate(Stream archive, ExtractOptions options) => throw new NotImplementedException();
    public static ExtractResult ApplyInPlace(Stream archive, string rootfsDir, ExtractOptions options) => throw new NotImplementedException();

    /// <summary>Extract into an existing empty directory; compression detected by magic. On failure nothing remains in destinationDir.</summary>
    public static ExtractResult Extract(Stream archive, string destinationDir, ExtractOptions options)
    {
        ArgumentNullException.ThrowIfNull(archive);
        options ??= new ExtractOptions();
        using var extractor = new Extractor(destinationDir, options);
        if (!extractor.IsEmpty()) throw new ArgumentException($"destination '{destinationDir}' is not empty", nameof(destinationDir));
        try
        {
            using var input = Compression.OpenForRead(archive);
            using var reader = new PaxTarReader(input, options.MaxBytes);
            extractor.Run(reader);
            return new ExtractResult(extractor.Entries, extractor.Bytes);
        }
        catch
        {
            extractor.RemoveAllChildren();
            throw;
        }
    }

    /// <summary>Serialize an overlay upper directory in runsc's layout.</summary>
    public static void Write(string upperDir, Stream output, ArchiveCompression compression = ArchiveCompression.None)
    {
        ArgumentNullException.ThrowIfNull(output);
        var compressed = Compression.OpenForWrite(output, compression);
        try
        {
            using var writer = new PaxTarWriter(compressed);
            new Snapshotter(writer).Run(upperDir);
            writer.Finish();
        }
        finally
        {
            if (!ReferenceEquals(compressed, output)) compressed.Dispose();
        }
        output.Flush();
    }
}
