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

    /// <summary>One member's input and its deflated bytes; members go round, their buffers are kept.</summary>
    sealed class Member
    {
        public readonly byte[] Input = new byte[MemberSize];
        public readonly MemoryStream Output = new(MemberSize + (MemberSize >> 4));
        public int Length;

        public void Deflate()
        {
            Output.SetLength(0);
            using var gz = new GZipStream(Output, CompressionLevel.Fastest, leaveOpen: true);
            gz.Write(Input, 0, Length);
        }
    }

    readonly Queue<(Member Member, Task Deflated)> _inFlight = new();
    readonly Stack<Member> _spare = new();
    Member _filling = new();
    bool _wroteMember;

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            int n = Math.Min(data.Length, MemberSize - _filling.Length);
            data[..n].CopyTo(_filling.Input.AsSpan(_filling.Length));
            _filling.Length += n; data = data[n..];
            if (_filling.Length == MemberSize) Submit();
        }
    }

    void Submit()
    {
        var member = _filling;
        _inFlight.Enqueue((member, Task.Run(member.Deflate)));
        while (_inFlight.Count >= Pending) WriteOldest();
        _filling = _spare.TryPop(out var spare) ? spare : new Member();
        _filling.Length = 0;
    }

    void WriteOldest()
    {
        var (member, deflated) = _inFlight.Dequeue();
        deflated.GetAwaiter().GetResult();
        output.Write(member.Output.GetBuffer(), 0, (int)member.Output.Length);
        _wroteMember = true;
        _spare.Push(member);
    }

    /// <summary>Every byte written so far goes out as complete members (an empty member if there was nothing).</summary>
    public override void Flush()
    {
        if (_filling.Length > 0 || !_wroteMember && _inFlight.Count == 0) Submit();
        while (_inFlight.Count > 0) WriteOldest();
        output.Flush();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var (_, deflated) in _inFlight) ((IAsyncResult)deflated).AsyncWaitHandle.WaitOne();
            _inFlight.Clear();
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
