using System.Buffers;
using System.IO.Compression;

namespace Csshim.TarLayer;

/// <summary>
/// gzip written as independent members of MemberSize input bytes, each deflated on the thread pool and written in
/// order: a multi-member gzip (RFC 1952), which GZipStream, gzip -d and tar -xz read as one stream. Deflate is the
/// whole cost of a gzip snapshot, and this way it runs on every core. At most Pending members are in flight, so
/// memory is bounded. Flush writes every member so far (the snapshot's end); Dispose waits for what is in flight and
/// writes nothing more, so a failed snapshot does not hide its failure behind a second one.
/// </summary>
internal sealed class ParallelGzipStream(Stream output) : Stream
{
    const int MemberSize = 1 << 20;
    static readonly int Pending = 2 * Environment.ProcessorCount;

    readonly Queue<Task<MemoryStream>> _inFlight = new();
    byte[] _chunk = ArrayPool<byte>.Shared.Rent(MemberSize);
    int _len;
    bool _wroteMember;

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            int n = Math.Min(data.Length, MemberSize - _len);
            data[..n].CopyTo(_chunk.AsSpan(_len));
            _len += n; data = data[n..];
            if (_len == MemberSize) Submit();
        }
    }

    void Submit()
    {
        var chunk = _chunk;
        int len = _len;
        _chunk = ArrayPool<byte>.Shared.Rent(MemberSize);
        _len = 0;
        _inFlight.Enqueue(Task.Run(() => Deflate(chunk, len)));
        while (_inFlight.Count >= Pending) WriteOldest();
    }

    static MemoryStream Deflate(byte[] chunk, int len)
    {
        try
        {
            var member = new MemoryStream(len / 2 + 64);
            using (var gz = new GZipStream(member, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(chunk, 0, len);
            return member;
        }
        finally { ArrayPool<byte>.Shared.Return(chunk); }
    }

    void WriteOldest()
    {
        var member = _inFlight.Dequeue().GetAwaiter().GetResult();
        output.Write(member.GetBuffer(), 0, (int)member.Length);
        _wroteMember = true;
    }

    /// <summary>Every byte written so far goes out as complete members (an empty member if there was nothing).</summary>
    public override void Flush()
    {
        if (_len > 0 || !_wroteMember && _inFlight.Count == 0) Submit();
        while (_inFlight.Count > 0) WriteOldest();
        output.Flush();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var t in _inFlight) t.ContinueWith(_ => { }).Wait();
            _inFlight.Clear();
            if (_chunk.Length > 0) ArrayPool<byte>.Shared.Return(_chunk);
            _chunk = [];
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
