using System.IO.Compression;
using SharpCompress.Compressors;
using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.Xz;

namespace Csshim.TarLayer;

internal static class Compression
{
    /// <summary>Decompressing stream chosen by magic; plain tar passes through.</summary>
    public static Stream OpenForRead(Stream input)
    {
        var head = new byte[6];
        int got = 0;
        while (got < head.Length)
        {
            int n = input.Read(head, got, head.Length - got);
            if (n <= 0) break;
            got += n;
        }
        var joined = new PrefixedStream(head.AsMemory(0, got), input);
        var h = head.AsSpan(0, got);
        try
        {
            // GZipStream reads every member of a multi-member file (SharpCompress stops after the first).
            if (h.StartsWith(new byte[] { 0x1f, 0x8b })) return new GZipStream(joined, System.IO.Compression.CompressionMode.Decompress);
            if (h.StartsWith(new byte[] { 0x28, 0xb5, 0x2f, 0xfd })) return new SharpCompress.Compressors.ZStandard.DecompressionStream(joined);
            if (h.StartsWith(new byte[] { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 })) return new XZStream(joined);
            if (h.StartsWith("BZh"u8)) return BZip2Stream.Create(joined, SharpCompress.Compressors.CompressionMode.Decompress, false, true);
        }
        catch (Exception ex) when (ex is not ArchiveRejectedException)
        {
            throw new ArchiveRejectedException($"archive: corrupt compressed stream ({ex.Message})", ex);
        }
        return joined;
    }

    public static Stream OpenForWrite(Stream output, ArchiveCompression compression) => compression switch
    {
        ArchiveCompression.None => output,
        ArchiveCompression.Gzip => new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true),
        ArchiveCompression.Zstd => new SharpCompress.Compressors.ZStandard.CompressionStream(output, 3, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(compression)),
    };

    /// <summary>The sniffed magic bytes followed by the rest of the input.</summary>
    sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : Stream
    {
        ReadOnlyMemory<byte> _prefix = prefix;
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            if (_prefix.Length > 0)
            {
                int n = Math.Min(buffer.Length, _prefix.Length);
                _prefix.Span[..n].CopyTo(buffer);
                _prefix = _prefix[n..];
                return n;
            }
            return rest.Read(buffer);
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
