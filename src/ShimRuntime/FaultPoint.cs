using Mono.Unix.Native;
using Csshim.TarLayer.Posix;

namespace Csshim.ShimRuntime;

/// <summary>Crash-test hooks: with CSSHIM_FAULT_POINT=&lt;name&gt; csshim SIGKILLs itself when it reaches that point,
/// so tests can prove that `delete` and `gc` recover from a crash at every step. Unset, nothing happens.</summary>
internal static class FaultPoint
{
    public const string Variable = "CSSHIM_FAULT_POINT";
    private static readonly string? Armed = Environment.GetEnvironmentVariable(Variable);

    public static void Reach(string name)
    {
        if (Armed == name) Syscall.kill(Environment.ProcessId, Signum.SIGKILL);
    }

    /// <summary>For points in the middle of a stream copy: dies once some data has gone through.</summary>
    public static Stream Wrap(Stream stream, string name) => Armed == name ? new DyingStream(stream, name) : stream;

    private sealed class DyingStream(Stream inner, string name) : Stream
    {
        private const long DieAfter = 64 * 1024;
        private long moved;

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Count(count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Count(buffer.Length);
        }

        private int Count(int n)
        {
            moved += n;
            if (moved > DieAfter) Reach(name);
            return n;
        }

        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => false;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
