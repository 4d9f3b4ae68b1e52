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
            if (Decoder(h, joined) is { } decoder) return new DecodeAheadStream(new CorruptionGuard(decoder));
        }
        catch (Exception ex) when (ex is not ArchiveRejectedException)
        {
            throw new ArchiveRejectedException($"archive: corrupt compressed stream ({ex.Message})", ex);
        }
        // A plain tar in a file is read from the file itself, so that file data can be copied by the kernel from it.
        if (input is FileStream { CanSeek: true })
        {
            input.Seek(-got, SeekOrigin.Current);
            return input;
        }
        return joined;
    }

    /// <summary>The decompressor the magic bytes name, or null for plain tar.</summary>
    static Stream? Decoder(ReadOnlySpan<byte> h, Stream input)
    {
        // GZipStream reads every member of a multi-member file (SharpCompress stops after the first).
        if (h.StartsWith(new byte[] { 0x1f, 0x8b })) return new GZipStream(input, System.IO.Compression.CompressionMode.Decompress);
        if (h.StartsWith(new byte[] { 0x28, 0xb5, 0x2f, 0xfd })) return new SharpCompress.Compressors.ZStandard.DecompressionStream(input);
        if (h.StartsWith(new byte[] { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 })) return new XZStream(input);
        if (h.StartsWith("BZh"u8)) return BZip2Stream.Create(input, SharpCompress.Compressors.CompressionMode.Decompress, false, true);
        return null;
    }

    public static Stream OpenForWrite(Stream output, ArchiveCompression compression) => compression switch
    {
        ArchiveCompression.None => output,
        ArchiveCompression.Gzip => new ParallelGzipStream(output),
        ArchiveCompression.Zstd => new SharpCompress.Compressors.ZStandard.CompressionStream(output, 3, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(compression)),
    };

    /// <summary>Any failure inside a decompressor (whatever exception type the codec uses) is a corrupt archive.</summary>
    sealed class CorruptionGuard(Stream inner) : ReadOnlyStream
    {
        public override int Read(Span<byte> buffer)
        {
            try { return inner.Read(buffer); }
            catch (Exception ex) when (ex is not ArchiveRejectedException)
            {
                throw new ArchiveRejectedException($"archive: corrupt compressed stream ({ex.Message})", ex);
            }
        }
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
    }

    internal abstract class ReadOnlyStream : Stream
    {
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public abstract override int Read(Span<byte> buffer);
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

    /// <summary>The sniffed magic bytes followed by the rest of the input.</summary>
    sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : ReadOnlyStream
    {
        ReadOnlyMemory<byte> _prefix = prefix;
        long _position;  // XZStream asks for it
        public override int Read(Span<byte> buffer)
        {
            int n;
            if (_prefix.Length > 0)
            {
                n = Math.Min(buffer.Length, _prefix.Length);
                _prefix.Span[..n].CopyTo(buffer);
                _prefix = _prefix[n..];
            }
            else n = rest.Read(buffer);
            _position += n;
            return n;
        }
        public override long Position { get => _position; set => throw new NotSupportedException(); }
    }
}
