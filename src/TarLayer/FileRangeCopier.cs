using System.Buffers;
using Csshim.TarLayer.Posix;
using Mono.Unix.Native;

namespace Csshim.TarLayer;

/// <summary>How a byte range goes from one file to another, best first.</summary>
internal enum CopyMethod { CopyFileRange, Splice, ReadWrite }

/// <summary>
/// Moves byte ranges between regular files without bringing the data into the process. copy_file_range first (one
/// copy inside the page cache, a reflink where the filesystem can); the kernel refuses it across filesystems (EXDEV:
/// since 5.19 only between files of one filesystem type that implements it), e.g. from an archive on ext4 into a
/// tmpfs upper or through an overlay. Then splice, which moves pages inside the kernel between any two files:
/// sendfile (the kernel's own pipe) when the output's own offset is written, splice through a pipe of this copier's
/// when the output is written at an offset (sendfile would move the output's offset, which another thread's
/// FileStream may be using). Then read/write through a buffer. A method the kernel refuses for these files (EXDEV, EINVAL, EOPNOTSUPP, ENOSYS, EPERM
/// from a seccomp filter) is dropped for the rest of this copier's life (one restore or one snapshot: one archive and
/// one destination); any other error is the caller's to report. A hole in the source reads as zeros, so the bytes
/// that arrive are always the source's bytes.
/// </summary>
internal sealed unsafe class FileRangeCopier : IDisposable
{
    const long MaxStep = 1L << 30;
    const int BufferSize = 1 << 20;

    /// <summary>Test seam: the first method a new copier tries (later ones stay available as fallbacks).</summary>
    internal static CopyMethod FirstMethod { get; set; } = CopyMethod.CopyFileRange;
    /// <summary>Bytes moved by each method since start-up, for tests and measurements.</summary>
    internal static readonly long[] Moved = new long[3];

    CopyMethod _method = FirstMethod;
    byte[]? _buffer;
    int _pipeRead = -1, _pipeWrite = -1;

    public CopyMethod Method => _method;

    /// <summary>
    /// Copy length bytes from inFd at inOffset to outFd at outOffset, or at outFd's own offset (advanced) when outOffset
    /// is -1. Returns 0 or an errno; moved below length with 0 means the input ended first.
    /// </summary>
    public int Copy(int inFd, long inOffset, int outFd, long outOffset, long length, out long moved)
    {
        moved = 0;
        while (moved < length)
        {
            long n = Step(inFd, inOffset + moved, outFd, outOffset < 0 ? -1 : outOffset + moved, Math.Min(length - moved, MaxStep), out int err);
            if (n > 0)
            {
                moved += n;
                Interlocked.Add(ref Moved[(int)_method], n);
                continue;
            }
            if (n == 0) return 0;
            if (err == Fs.EINTR) continue;
            if (_method != CopyMethod.ReadWrite && err is Fs.EXDEV or Fs.EINVAL or Fs.EOPNOTSUPP or Fs.ENOSYS or Fs.EPERM)
            {
                _method++;
                continue;
            }
            return err;
        }
        return 0;
    }

    long Step(int inFd, long inOffset, int outFd, long outOffset, long count, out int err)
    {
        long n;
        switch (_method)
        {
            case CopyMethod.CopyFileRange:
                n = Linux.copy_file_range(inFd, &inOffset, outFd, outOffset < 0 ? null : &outOffset, (nuint)count, 0);
                break;
            case CopyMethod.Splice when outOffset < 0:
                n = Syscall.sendfile(outFd, inFd, ref inOffset, (ulong)count);
                break;
            case CopyMethod.Splice:
                return SpliceAt(inFd, inOffset, outFd, outOffset, count, out err);
            default:
                return ReadWrite(inFd, inOffset, outFd, outOffset, count, out err);
        }
        err = n < 0 ? Fs.Errno : 0;
        return n;
    }

    /// <summary>Input to the pipe, the pipe to the output at outOffset; what is in the pipe always reaches the output.</summary>
    long SpliceAt(int inFd, long inOffset, int outFd, long outOffset, long count, out int err)
    {
        if (_pipeRead < 0)
        {
            var fds = stackalloc int[2];
            if (Linux.pipe2(fds, Fs.O_CLOEXEC) != 0) { err = Fs.Errno; return -1; }
            (_pipeRead, _pipeWrite) = (fds[0], fds[1]);
        }
        long n = Linux.splice(inFd, &inOffset, _pipeWrite, null, (nuint)Math.Min(count, PipeChunk), 0);
        if (n <= 0) { err = n < 0 ? Fs.Errno : 0; return n; }
        for (long left = n; left > 0;)
        {
            long m = Linux.splice(_pipeRead, null, outFd, &outOffset, (nuint)left, 0);
            if (m < 0 && Fs.Errno == Fs.EINTR) continue;
            if (m <= 0)
            {
                err = m < 0 ? Fs.Errno : Fs.EINVAL;
                ClosePipe(); // it still holds data that belongs nowhere
                return -1;
            }
            left -= m;
        }
        err = 0;
        return n;
    }

    const int PipeChunk = 64 << 10; // a pipe's default capacity

    void ClosePipe()
    {
        Fs.Close(_pipeRead);
        Fs.Close(_pipeWrite);
        _pipeRead = _pipeWrite = -1;
    }

    long ReadWrite(int inFd, long inOffset, int outFd, long outOffset, long count, out int err)
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(BufferSize);
        fixed (byte* b = _buffer)
        {
            long n = Syscall.pread(inFd, b, (ulong)Math.Min(count, _buffer.Length), inOffset);
            if (n <= 0) { err = n < 0 ? Fs.Errno : 0; return n; }
            err = Fs.WriteAll(outFd, new ReadOnlySpan<byte>(b, (int)n), outOffset);
            return err == 0 ? n : -1;
        }
    }

    public void Dispose()
    {
        ClosePipe();
        if (_buffer != null) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
    }
}
